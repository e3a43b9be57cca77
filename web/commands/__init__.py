"""The `modelyard` command line: the CLI's root and composition (root.py: `serve`, `db`,
`doctor`, and the domain packages' sub-commands mounted), what every command shares (group.py:
environment problems as one sentence), `modelyard doctor`'s checks (doctor.py), the checks
`serve` makes before it listens (startup.py) and the server's log set-up (logs.py).

The web app (web/app.py and the pages) never imports this package; it imports the app."""

from web.commands.root import app, main

__all__ = ["app", "main"]
