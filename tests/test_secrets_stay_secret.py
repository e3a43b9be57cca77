"""Provider keys and prompts never leave through logs, error answers, metrics or pages,
whatever fails: a real `modelyard serve` process with JSON logs at debug level, and hosted
deployments reached through litellm's OpenAI provider, which the fault-injecting upstream
plays (one of its models quotes the key it was sent in its error, as some providers do)."""

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import prepare_database, start_gateway
from tests.servers import ServerProcess

PROVIDER_KEY = "sk-provider-secret-7f3a9c"
PROMPT = "my-confidential-prompt-4b2e"
FAILURES = ("leaky-auth", "server-error", "malformed", "bad-request", "rate-limit", "cut")


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, fault_upstream: ServerProcess
) -> Iterator[tuple[ServerProcess, str]]:
    folder = tmp_path_factory.mktemp("secrets")
    url = f"sqlite:///{folder / 'modelyard.db'}"
    secrets = prepare_database(url, folder, admin_keys=("admin",))
    env = {
        "MODELYARD_DATABASE_URL": url,
        "MODELYARD_PROVIDER_KEYS": json.dumps({"openai": PROVIDER_KEY}),
        "MODELYARD_LOG_FORMAT": "json",
        "MODELYARD_LOG_LEVEL": "debug",
        # litellm's OpenAI client reads its address from here: the fault upstream plays OpenAI.
        "OPENAI_BASE_URL": f"{fault_upstream.base_url}/v1",
    }
    server = start_gateway(folder, env, "secrets")
    admin = {"Authorization": f"Bearer {secrets['admin']}"}
    # One catalog model per fault, each with one hosted deployment: a request names the fault.
    for model in (*FAILURES, "echo"):
        spec = {"hf_id": f"test/{model}", "name": model, "family": "test"}
        created = httpx.post(
            f"{server.base_url}/api/models",
            json={**spec, "licenses": [{"license": "mit"}]},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        deployment = {
            "model": f"test/{model}",
            "kind": "hosted",
            "provider": "openai",
            "served_name": f"openai/{model}",
            "input_cost_per_token": 1e-7,
            "output_cost_per_token": 1e-7,
        }
        added = httpx.post(f"{server.base_url}/api/deployments", json=deployment, headers=admin)
        assert added.status_code == 201, added.text
    time.sleep(1.5)  # every replica's snapshot poll sees a change within a second
    try:
        yield server, secrets["admin"]
    finally:
        server.stop()


def test_no_provider_key_or_prompt_leaves(gateway: tuple[ServerProcess, str]) -> None:
    server, key = gateway
    auth = {"Authorization": f"Bearer {key}"}
    answers: list[str] = []
    with httpx.Client(base_url=server.base_url, headers=auth, timeout=60) as client:
        for model in (*FAILURES, "echo"):
            for stream in (False, True):
                body = {
                    "model": f"test/{model}",
                    "messages": [{"role": "user", "content": PROMPT}],
                    "max_tokens": 8,
                    "stream": stream,
                }
                response = client.post("/v1/chat/completions", json=body)
                answers.append(response.text)
        assert any(PROMPT in a for a in answers)  # the echo model did see the prompt
        answers = [a for a in answers if "echo: " not in a]
        assert any("Incorrect API key" in a for a in answers)  # the leaky one was reached
        metrics = client.get("/metrics").text
        pages = [
            client.get(path, headers={"accept": "text/html"}).text
            for path in ("/models/test/leaky-auth", "/spend?all_keys=true", "/")
        ]
    log = Path(server.log_path).read_text()
    assert '"level"' in log or "INFO" in log  # the log was written
    for where, text in [("answers", "\n".join(answers)), ("metrics", metrics), ("log", log)]:
        assert PROVIDER_KEY not in text, where
        assert PROVIDER_KEY[3:12] not in text, where  # not even a fragment
    assert PROMPT not in metrics and PROMPT not in log
    for page in pages:
        assert PROVIDER_KEY not in page and PROMPT not in page
