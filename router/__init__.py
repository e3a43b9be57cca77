"""Which deployment serves a request, and everything around that one decision.

One subpackage per concern; imports run one way, down this list (import-linter checks it in
`make check`, see `[tool.importlinter]` in pyproject.toml):

    api         the surfaces clients speak: chat, completions, embeddings, Responses,
                Messages, model cards; their HTTP handlers
    evaluation  replaying outcome data through the real decision; `modelyard router …`
    pipeline    one request end to end: gateway, execution with fallback, streams,
                telemetry, metrics, privacy on the chat path
    routing     the decision: deployment table, speed, load spread, provider keys,
                the default need
    accounts    keys, teams, policies, the audit log, the ledger, spend; their HTTP
                handlers and commands
    quality     estimators: catalog benchmarks, the learned ones, outcome data, the bundled fit
    state       limits and budgets, health and cool-downs, the response cache
    privacy     personal data and secrets in what a request carries; redaction
    core        request shapes, route controls, errors, token estimates

A package imports only those below it (api and evaluation are side by side at the top,
routing beside accounts, quality beside state and privacy); privacy imports nothing else
of the router. Outside the router: `catalog` and `adapters` below, `web` above.

Module roles: `*_http.py` holds a surface's HTTP handlers (FastAPI routers, raw handlers for
the fast path), `*_cli.py` its commands; `orm.py`, `repository.py` (all SQL) and
`schemas.py` (pydantic shapes) as in `catalog/`.
"""
