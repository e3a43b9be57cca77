"""Key and team policies are limits: the openai and anthropic SDKs against a real modelyard
process try to widen them through the body's `route`, `X-Route-*` headers and an explicit
`model`, on chat, legacy completions, Responses, Messages and embeddings; every attempt is a
403 naming the policy, counted and audited, and narrowing still works."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest
from openai import OpenAI

from catalog import repository as catalog_repo
from catalog.db import transaction
from catalog.schemas import PROFILE_FIELDS
from catalog.terms import DeploymentKind, Privacy
from router.accounts.policy import KeyPolicy, TeamPolicy
from router.accounts.policy_limits import FIELD_KINDS, LIMITS, USE_RULES
from tests.conftest import echo_deployment, prepare_database, start_gateway
from tests.fault_upstream import SECRET
from tests.servers import ServerProcess
from web.app import session_factory_for
from web.settings import Settings

LOCAL = "test/phi-2-echo"
HOSTED = "test/phi-2-hosted"
NC_MODEL = "CohereLabs/c4ai-command-r7b-12-2024"  # CC-BY-NC-4.0
NC_DEPLOYMENT = "test/command-r7b-echo"
DEEPSEEK = "deepseek-ai/DeepSeek-V3"
SSN_PROMPT = "My social security number is 536-22-1234; fill in my W-9 form"


@dataclass
class Setup:
    server: ServerProcess
    upstream: ServerProcess
    keys: dict[str, str]

    def client(self, key: str) -> OpenAI:
        return OpenAI(base_url=f"{self.server.base_url}/v1", api_key=self.keys[key], max_retries=0)

    def claude(self, key: str) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            base_url=self.server.base_url, api_key=self.keys[key], max_retries=0
        )

    def admin(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.server.base_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.keys['root']}"},
            timeout=10,
        )

    def dry_run(self, key: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return httpx.post(
            f"{self.server.base_url}/v1/route",
            json={"messages": [{"role": "user", "content": "Hello there"}], **body},
            headers={"Authorization": f"Bearer {self.keys[key]}", **headers},
            timeout=10,
        )

    def hosted_bodies(self) -> int:
        answer = httpx.get(f"{self.upstream.base_url}/recorded/hosted", timeout=10).json()
        return len(answer)

    def audit(self, **query: str) -> list[dict[str, Any]]:
        """Refusals are written off the request path: wait for them briefly."""
        deadline = time.monotonic() + 10
        while True:
            answer = self.admin(
                "GET", "/api/audit?" + "&".join(f"{k}={v}" for k, v in query.items())
            )
            entries: list[dict[str, Any]] = answer.json()["entries"]
            if entries or time.monotonic() > deadline:
                return entries
            time.sleep(0.1)


KEYS: dict[str, dict[str, Any]] = {
    "phi-only": {"models": ["phi-2"], "privacy": "any"},
    "no-deepseek": {"exclude": [DEEPSEEK], "privacy": "any"},
    "local": {"privacy": "local_only"},
    "app": {},  # privacy auto, the default for new keys
    "open": {"privacy": "any"},
    "commercial": {"use": {"commercial": True}, "privacy": "any"},
    "unbound": {"privacy": "any"},  # no licence profile: nothing to widen
    "cheap": {"max_cost_usd": 0.001, "privacy": "any"},
    "embed-one": {"models": ["wordllama"], "privacy": "any"},
    "member": {"privacy": "any"},  # joins team "research" below
    "granted": {"models": ["phi-2"], "privacy": "any"},
}


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, fault_upstream: ServerProcess
) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("policy-limits")
    url = f"sqlite:///{folder / 'modelyard.db'}"
    keys = prepare_database(
        url,
        folder,
        deployments=[
            # phi-2 here, dearer than the hosted one below.
            echo_deployment(fault_upstream, input_cost_per_token=1e-6, output_cost_per_token=1e-6),
            echo_deployment(
                fault_upstream,
                name=HOSTED,
                base_url=f"{fault_upstream.base_url}/hosted/v1",
                served_name="openai/echo-pieces",
                input_cost_per_token=1e-10,
                output_cost_per_token=1e-10,
            ),
            echo_deployment(fault_upstream, name=NC_DEPLOYMENT, model=NC_MODEL),
        ],
        api_keys=KEYS,
        admin_keys=("root",),
    )
    engine, factory = session_factory_for(Settings(database_url=url, data_dir=folder))
    with transaction(factory) as session:
        hosted = catalog_repo.get_deployment(session, HOSTED)
        assert hosted is not None
        hosted.kind, hosted.privacy, hosted.provider = (
            DeploymentKind.HOSTED,
            Privacy.EXTERNAL,
            "openai",
        )
    engine.dispose()
    env = {
        "MODELYARD_DATABASE_URL": url,
        "MODELYARD_PROVIDER_KEYS": f'{{"openai": "{SECRET}"}}',
        "MODELYARD_LEDGER_FLUSH_SECONDS": "0.1",
        "MODELYARD_LOG_LEVEL": "warning",
    }
    server = start_gateway(folder, env, "policy-limits")
    yield Setup(server, fault_upstream, keys)
    server.stop()


def ask(text: str = "Hello there") -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def refused(call: Callable[[], Any]) -> dict[str, Any]:
    """The OpenAI envelope of a 403 `policy` refusal."""
    with pytest.raises(openai.PermissionDeniedError) as caught:
        call()
    assert caught.value.status_code == 403
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["code"] == "policy", body
    return body


# --- every field is classified ----------------------------------------------------------------


def test_every_policy_field_is_a_limit_a_default_or_a_grant() -> None:
    assert set(KeyPolicy.model_fields) == set(FIELD_KINDS)
    assert set(TeamPolicy.model_fields) <= set(FIELD_KINDS)
    assert set(USE_RULES) == set(PROFILE_FIELDS)  # "stricter" is defined for every field
    assert {n for n in LIMITS} <= {n for n, kind in FIELD_KINDS.items() if kind == "limit"}


# --- the allowlist and the denylist -----------------------------------------------------------


def test_a_model_outside_the_allowlist_is_refused_on_body_headers_and_model(setup: Setup) -> None:
    client = setup.client("phi-only")
    body = refused(
        lambda: client.chat.completions.create(
            model="auto", messages=ask(), extra_body={"route": {"models": [DEEPSEEK]}}
        )
    )
    assert body["param"] == "route.models"
    assert "key 'phi-only'" in body["message"] and DEEPSEEK in body["message"]
    assert body["policy"] == {
        "field": "models",
        "level": "key",
        "name": "phi-only",
        "asked": DEEPSEEK,
    }
    body = refused(
        lambda: client.chat.completions.create(
            model="auto", messages=ask(), extra_headers={"X-Route-Models": f"phi-2,{DEEPSEEK}"}
        )
    )
    assert body["param"] == "x-route-models"
    body = refused(lambda: client.chat.completions.create(model=DEEPSEEK, messages=ask()))
    assert body["param"] == "model"
    assert "key 'phi-only'" in body["message"]
    # Streamed and through the legacy completions: the same refusal, before any byte.
    refused(lambda: client.chat.completions.create(model=DEEPSEEK, messages=ask(), stream=True))
    refused(lambda: client.completions.create(model=DEEPSEEK, prompt="Hello"))


def test_narrowing_the_allowlist_still_routes(setup: Setup) -> None:
    raw = setup.client("phi-only").chat.completions.with_raw_response.create(
        model="phi-2", messages=ask(), extra_body={"route": {"models": ["microsoft/phi-2"]}}
    )
    assert raw.headers["x-modelyard-model"] == "microsoft/phi-2"
    # Without any request controls the allowlist binds `auto` too.
    raw = setup.client("phi-only").chat.completions.with_raw_response.create(
        model="auto", messages=ask()
    )
    assert raw.headers["x-modelyard-model"] == "microsoft/phi-2"


def test_a_denied_model_is_refused_and_the_denylist_only_grows(setup: Setup) -> None:
    client = setup.client("no-deepseek")
    body = refused(lambda: client.chat.completions.create(model="deepseek-v3", messages=ask()))
    assert body["policy"]["field"] == "exclude" and body["param"] == "model"
    body = refused(
        lambda: client.chat.completions.create(
            model="auto", messages=ask(), extra_body={"route": {"models": [DEEPSEEK]}}
        )
    )
    assert body["policy"]["field"] == "exclude" and body["param"] == "route.models"
    # A request's own exclude adds to the key's: both stay out.
    plan = setup.dry_run("no-deepseek", {"model": "auto", "route": {"exclude": ["phi-2"]}}).json()
    assert set(plan["policy"]["limits"]["exclude"]["value"]) == {DEEPSEEK, "microsoft/phi-2"}
    assert plan["policy"]["limits"]["exclude"]["set_by"] == [
        "key 'no-deepseek'",
        "request (route)",
    ]


# --- privacy ----------------------------------------------------------------------------------


def test_local_only_cannot_be_loosened(setup: Setup) -> None:
    client = setup.client("local")
    for extra in (
        {"extra_body": {"route": {"privacy": "any"}}},
        {"extra_headers": {"X-Route-Privacy": "auto"}},
    ):
        body = refused(
            lambda extra=extra: client.chat.completions.create(
                model="phi-2", messages=ask(), **extra
            )
        )
        assert body["policy"]["field"] == "privacy"
        assert "key 'local'" in body["message"]
    raw = client.chat.completions.with_raw_response.create(model="phi-2", messages=ask())
    assert raw.headers["x-modelyard-deployment"] == LOCAL


def test_auto_keeps_personal_data_here_whatever_the_request_says(setup: Setup) -> None:
    before = setup.hosted_bodies()
    client = setup.client("app")
    for extra in (
        {"extra_body": {"route": {"privacy": "any"}}},
        {"extra_headers": {"X-Route-Privacy": "any"}},
    ):
        refused(
            lambda extra=extra: client.chat.completions.create(
                model="phi-2", messages=ask(SSN_PROMPT), **extra
            )
        )
    raw = client.chat.completions.with_raw_response.create(model="phi-2", messages=ask(SSN_PROMPT))
    assert raw.headers["x-modelyard-deployment"] == LOCAL
    assert setup.hosted_bodies() == before  # nothing left our machines


def test_a_stricter_privacy_narrows(setup: Setup) -> None:
    client = setup.client("open")
    assert (
        client.chat.completions.with_raw_response.create(model="phi-2", messages=ask()).headers[
            "x-modelyard-deployment"
        ]
        == HOSTED
    )
    raw = client.chat.completions.with_raw_response.create(
        model="phi-2", messages=ask(), extra_headers={"X-Route-Privacy": "local_only"}
    )
    assert raw.headers["x-modelyard-deployment"] == LOCAL


# --- the licence profile ----------------------------------------------------------------------


def test_a_commercial_key_cannot_declare_itself_non_commercial(setup: Setup) -> None:
    client = setup.client("commercial")
    for extra in (
        {"extra_body": {"route": {"use": {"commercial": False}}}},
        {"extra_headers": {"X-Route-Use": '{"commercial": false}'}},
    ):
        body = refused(
            lambda extra=extra: client.chat.completions.create(
                model=NC_MODEL, messages=ask(), **extra
            )
        )
        assert body["policy"]["field"] == "use.commercial"
        assert "key 'commercial'" in body["message"]
    # As the key: the CC-BY-NC model is excluded by its licence.
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=NC_MODEL, messages=ask())
    assert "license" in caught.value.message
    # A key without a profile is not limited: the same request reaches it (the test can fail).
    raw = setup.client("unbound").chat.completions.with_raw_response.create(
        model=NC_MODEL, messages=ask(), extra_body={"route": {"use": {"commercial": False}}}
    )
    assert raw.headers["x-modelyard-deployment"] == NC_DEPLOYMENT


def test_a_stricter_profile_narrows(setup: Setup) -> None:
    plan = setup.dry_run(
        "commercial", {"model": "phi-2", "route": {"use": {"fine_tune": True}}}
    ).json()
    use = plan["policy"]["limits"]["use"]
    assert use["value"]["commercial"] is True and use["value"]["fine_tune"] is True
    assert use["set_by"] == ["key 'commercial'", "request (route)"]


def test_max_cost_may_be_lowered_never_raised(setup: Setup) -> None:
    client = setup.client("cheap")
    body = refused(
        lambda: client.chat.completions.create(
            model="phi-2", messages=ask(), extra_headers={"X-Route-Max-Cost-Usd": "5"}
        )
    )
    assert body["param"] == "x-route-max-cost-usd"
    plan = setup.dry_run("cheap", {"model": "phi-2", "route": {"max_cost_usd": 0.0001}}).json()
    assert plan["policy"]["limits"]["max_cost_usd"]["value"] == 0.0001


# --- the other surfaces -----------------------------------------------------------------------


def test_responses_refuses_every_widening(setup: Setup) -> None:
    client = setup.client("phi-only")
    body = refused(
        lambda: client.responses.create(
            model="auto", input="Hello", extra_body={"route": {"models": [DEEPSEEK]}}
        )
    )
    assert body["param"] == "route.models"
    body = refused(
        lambda: client.responses.create(
            model="auto", input="Hello", extra_headers={"X-Route-Models": DEEPSEEK}
        )
    )
    assert body["param"] == "x-route-models"
    body = refused(lambda: client.responses.create(model=DEEPSEEK, input="Hello"))
    assert body["param"] == "model"
    answer = client.responses.create(model="phi-2", input="Hello")
    assert answer.output_text == "echo: Hello"


def test_messages_refuses_every_widening(setup: Setup) -> None:
    claude = setup.claude("phi-only")

    def create(**extra: Any) -> Any:
        base: dict[str, Any] = {
            "model": "auto",
            "max_tokens": 20,
            "messages": [{"role": "user", "content": "Hello"}],
        }
        return claude.messages.create(**{**base, **extra})

    for extra in (
        {"extra_body": {"route": {"models": [DEEPSEEK]}}},
        {"extra_headers": {"X-Route-Models": DEEPSEEK}},
        {"model": DEEPSEEK},
    ):
        with pytest.raises(anthropic.PermissionDeniedError) as caught:
            create(**extra)
        assert "key 'phi-only'" in caught.value.message
    assert create(model="phi-2").content[0].text == "echo: Hello"  # type: ignore[union-attr]


def test_embeddings_refuse_every_widening(setup: Setup) -> None:
    client = setup.client("embed-one")
    for extra in (
        {"extra_body": {"route": {"models": ["bge-base-en-v1.5"]}}},
        {"extra_headers": {"X-Route-Models": "bge-base-en-v1.5"}},
    ):
        body = refused(
            lambda extra=extra: client.embeddings.create(model="auto", input="hello", **extra)
        )
        assert body["policy"]["name"] == "embed-one"
    body = refused(lambda: client.embeddings.create(model="bge-base-en-v1.5", input="hello"))
    assert body["param"] == "model"
    narrowed = client.embeddings.create(
        model="auto", input="hello", extra_body={"route": {"models": ["wordllama"]}}
    )
    assert narrowed.model == "dleemiller/word-llama-l2-supercat"


# --- teams ------------------------------------------------------------------------------------


def test_a_team_policy_binds_its_keys(setup: Setup) -> None:
    made = setup.admin(
        "POST",
        "/api/teams",
        {"name": "research", "policy": {"privacy": "local_only", "exclude": [DEEPSEEK]}},
    )
    assert made.status_code == 201, made.text
    assert made.json()["policy"] == {"privacy": "local_only", "exclude": [DEEPSEEK]}
    joined = setup.admin("POST", "/api/teams/research/members", {"key": "member"})
    assert joined.status_code == 200, joined.text
    client = setup.client("member")
    # The key's own `privacy: any` cannot loosen its team's local_only.
    raw = client.chat.completions.with_raw_response.create(model="phi-2", messages=ask())
    assert raw.headers["x-modelyard-deployment"] == LOCAL
    body = refused(
        lambda: client.chat.completions.create(
            model="phi-2", messages=ask(), extra_body={"route": {"privacy": "any"}}
        )
    )
    assert body["policy"] == {
        "field": "privacy",
        "level": "team",
        "name": "research",
        "asked": "any",
    }
    assert "team 'research'" in body["message"]
    body = refused(lambda: client.chat.completions.create(model=DEEPSEEK, messages=ask()))
    assert body["policy"]["level"] == "team" and body["policy"]["field"] == "exclude"
    plan = setup.dry_run("member", {"model": "phi-2"}).json()
    privacy = plan["policy"]["limits"]["privacy"]
    assert privacy == {"value": "local_only", "set_by": ["team 'research'", "key 'member'"]}
    # The team's policy changes: its keys follow (the admin's change clears the key cache).
    changed = setup.admin("PATCH", "/api/teams/research", {"policy": {"models": ["phi-2"]}})
    assert changed.status_code == 200, changed.text
    body = refused(lambda: client.chat.completions.create(model=NC_MODEL, messages=ask()))
    assert body["policy"]["field"] == "models" and body["policy"]["level"] == "team"
    updates = setup.audit(action="team.update", target="research")
    assert updates[0]["after"]["policy"] == {"models": ["phi-2"]}


# --- audit, metrics, grants -------------------------------------------------------------------


def test_a_refusal_is_audited_and_counted(setup: Setup) -> None:
    client = setup.client("phi-only")
    refused(
        lambda: client.chat.completions.create(
            model="auto",
            messages=ask(),
            extra_body={"route": {"models": ["meta-llama/Llama-2-7b-chat-hf"]}},
            extra_headers={"X-Request-Id": "widen-1"},
        )
    )
    entries = setup.audit(action="policy.refuse", request_id="widen-1")
    assert len(entries) == 1
    entry = entries[0]
    assert (entry["actor"], entry["target_type"], entry["target"]) == (
        "phi-only",
        "key",
        "phi-only",
    )
    assert entry["after"]["field"] == "models"
    assert entry["after"]["asked"] == "meta-llama/Llama-2-7b-chat-hf"
    assert entry["after"]["param"] == "route.models"
    metrics = httpx.get(f"{setup.server.base_url}/metrics", timeout=10).text
    assert 'modelyard_policy_refusals_total{field="models",level="key"}' in metrics
    assert 'modelyard_refusals_total{reason="policy"}' in metrics


def test_an_admin_grant_relaxes_a_key_limit_and_is_audited(setup: Setup) -> None:
    client = setup.client("granted")
    refused(lambda: client.chat.completions.create(model=NC_MODEL, messages=ask()))
    patched = setup.admin(
        "PATCH",
        "/api/keys/granted",
        {"policy": {"models": ["phi-2"], "privacy": "any", "relax": ["models"]}},
    )
    assert patched.status_code == 200, patched.text
    grants = setup.audit(action="key.grant", target="granted")
    assert grants[0]["before"] == {"allow_redact": None, "relax": None, "store_prompts": None}
    assert grants[0]["after"] == {"allow_redact": None, "relax": ["models"], "store_prompts": None}
    raw = client.chat.completions.with_raw_response.create(model=NC_MODEL, messages=ask())
    assert raw.headers["x-modelyard-deployment"] == NC_DEPLOYMENT
    # Without the request saying otherwise, the key's list still applies.
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=ask())
    assert raw.headers["x-modelyard-model"] == "microsoft/phi-2"
    plan = setup.dry_run("granted", {"model": "auto"}).json()
    assert plan["policy"]["grants"] == {"allow_redact": False, "relax": ["models"]}


# --- the controls' memo (router/pipeline/gateway.py: Gateway.controls) --------------------------


def test_each_route_object_and_header_gets_its_own_controls_and_refusals_repeat(
    setup: Setup,
) -> None:
    """The merged controls are kept per key for the `route` object and X-Route-* headers a
    request carries: alternating between them must route each by its own, and a widening
    asked again is refused (and audited) again, never served from the memo."""
    client = setup.client("open")

    def deployment(route: dict[str, Any] | None = None, **headers: str) -> str:
        answer = client.chat.completions.with_raw_response.create(
            model="phi-2",
            messages=ask(),
            extra_body={"route": route} if route is not None else None,
            extra_headers=headers or None,
        )
        return answer.headers["x-modelyard-deployment"]

    for _ in range(2):
        assert deployment() == HOSTED  # the cheapest
        assert deployment({"privacy": "local_only"}) == LOCAL
        assert deployment(**{"X-Route-Privacy": "local_only"}) == LOCAL
        assert deployment({"privacy": "any"}) == HOSTED
    with pytest.raises(openai.BadRequestError):  # no deployment is local and that cheap
        deployment({"privacy": "local_only", "max_cost_usd": 1e-12})
    strict = setup.client("local")
    for attempt in range(3):
        refused(
            lambda attempt=attempt: strict.chat.completions.create(
                model="phi-2",
                messages=ask(),
                extra_body={"route": {"privacy": "any"}},
                extra_headers={"X-Request-Id": f"memo-widen-{attempt}"},
            )
        )
        assert len(setup.audit(action="policy.refuse", request_id=f"memo-widen-{attempt}")) == 1
