"""The pages over HTTP, on both databases: what they show, their URLs, their errors, the
sign-in cookie, and that catalog text is always escaped. (tests/test_pages_browser.py drives
the same pages in Chromium.)"""

import datetime as dt
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from catalog.db import transaction
from router.accounts import keys
from router.accounts.ledger import write_entries
from tests.factories import usage_entry
from web.app import create_app, session_factory_for
from web.pages.charts import CostQualityPoint, pareto_frontier
from web.pages.rendering import html_json, human_count, human_tokens, usd
from web.settings import Settings

HTML = {"accept": "text/html"}
HOSTILE = '<script>alert("card")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def secrets(seeded_settings: Settings) -> dict[str, str]:
    engine, factory = session_factory_for(seeded_settings)
    with transaction(factory) as session:
        made = {
            "admin": keys.create_key(session, "pages-admin", admin=True)[1],
            "user": keys.create_key(session, "pages-user")[1],
        }
    engine.dispose()
    return made


@pytest.fixture(scope="module")
def site(seeded_settings: Settings, secrets: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(seeded_settings), raise_server_exceptions=False) as client:
        yield client


def signed_in(site: TestClient, secret: str) -> dict[str, str]:
    return {"cookie": f"modelyard_key={secret}"}


def rows(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/models/([^"]+)">', html)


# --- pure parts ---------------------------------------------------------------------------------


def test_pareto_frontier_keeps_only_undominated_models() -> None:
    points = [
        CostQualityPoint("cheap-weak", "a", 0.1, 50),
        CostQualityPoint("cheap-better", "b", 0.1, 55),
        CostQualityPoint("dominated", "c", 0.5, 54),
        CostQualityPoint("dear-best", "d", 2.0, 70),
        CostQualityPoint("dearer-same", "e", 3.0, 70),
        CostQualityPoint("middle", "f", 1.0, 60),
    ]
    frontier = [p.model for p in pareto_frontier(points) if p.on_frontier]
    assert frontier == ["cheap-better", "middle", "dear-best"]
    assert len(pareto_frontier(points)) == len(points)
    assert pareto_frontier([]) == []


def test_numbers_read_the_way_people_say_them() -> None:
    assert human_count(7_241_748_480) == "7.2B" and human_count(135_000_000) == "135M"
    assert human_count(None) == "—" and human_count(512) == "512"
    assert human_tokens(32768) == "32k" and human_tokens(2000) == "2,000"
    assert (
        usd(-0.0259, 6) == "-$0.025900"
        and usd(-0.002) == "-$0.002"
        and usd(1234.5) == "$1,234.50"
        and usd(0) == "free"
    )


def test_json_for_a_script_tag_cannot_close_it() -> None:
    text = str(html_json({"name": "</script><script>alert(1)</script>&"}))
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\\u003c/script\\u003e" in text


# --- catalog ------------------------------------------------------------------------------------


def test_catalog_lists_every_model_with_filters_in_the_url(site: TestClient) -> None:
    everything = site.get("/", headers=HTML)
    assert everything.status_code == 200
    assert len(rows(everything.text)) == 50  # the first page of the catalog
    assert everything.headers["content-security-policy"].startswith("default-src 'self'")

    phi = site.get("/?family=phi&sort=-params", headers=HTML)
    assert rows(phi.text)[0] == "microsoft/phi-4"
    assert all("phi" in r.lower() for r in rows(phi.text)) and len(rows(phi.text)) == 7
    assert '<option value="phi" selected>' in phi.text


def test_htmx_gets_the_list_alone_and_a_canonical_url(site: TestClient) -> None:
    asked = "/?q=&family=llama-2&license=&min_params=7B&max_price=&sort=name"
    partial = site.get(asked, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert "<html" not in partial.text and 'class="models"' in partial.text
    # Empty fields and defaults are dropped: the pushed URL is the view, nothing else.
    assert partial.headers["HX-Push-Url"] == "/?family=llama-2&min_params=7000000000"
    assert set(rows(partial.text)) == set(rows(site.get(partial.headers["HX-Push-Url"]).text))


def test_a_bad_filter_is_a_message_and_keeps_what_was_typed(site: TestClient) -> None:
    page = site.get("/?min_params=lots&family=phi", headers=HTML)
    assert page.status_code == 400
    assert "Check the filters: min_params" in page.text
    assert 'value="lots"' in page.text  # nothing typed is lost
    assert "Traceback" not in page.text


def test_errors_are_pages_for_browsers_and_json_for_clients(site: TestClient) -> None:
    page = site.get("/models/no/such-model", headers=HTML)
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "no model &#39;no/such-model&#39;" in page.text
    assert site.get("/models/no/such-model").json()["error"]["code"] == "not_found"
    api = site.get("/api/models/no/such-model", headers=HTML)
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    assert site.get("/no-such-page", headers=HTML).status_code == 404


def test_model_page_says_the_licence_in_plain_words(site: TestClient) -> None:
    page = site.get("/models/meta-llama/Llama-2-7b-chat-hf", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert "Above 700,000,000 monthly active users" in text
    assert "§2 Additional Commercial Terms" in text  # the clause behind the term
    assert '<a href="/models/meta-llama/Llama-2-7b-hf">' in text  # lineage
    assert "Open LLM Leaderboard" in text  # score sources
    assert "model=&#34;meta-llama/Llama-2-7b-chat-hf&#34;" in text  # the SDK snippet, escaped
    assert "/api/models/meta-llama/Llama-2-7b-chat-hf/bom" in text
    # The fine-tune and its base give the same reason: it is said once.
    assert text.count("the 700,000,000-user test counts users") == 1

    phi2 = site.get("/models/phi-2", headers=HTML).text
    history = phi2[phi2.index("Licence history") :]
    assert history.index("Microsoft Research License") < history.index("MIT License")
    assert "2023-12-12 → 2024-01-06" in history


def test_compare_shows_models_side_by_side_and_the_frontier(site: TestClient) -> None:
    page = site.get("/compare?m=phi-2&m=mistral-7b&benchmark=MMLU", headers=HTML)
    assert page.status_code == 200
    assert page.text.count('<th scope="col"><a href="/models/') == 2
    data = re.search(r'<script type="application/json" id="pareto-data">(.*?)</script>', page.text)
    assert data is not None and '"on_frontier":true' in data.group(1)

    too_many = site.get("/compare?" + "&".join(f"m={m}" for m in ["phi-2"] * 5), headers=HTML)
    assert too_many.status_code == 400 and "at most 4" in too_many.text
    unknown = site.get("/compare?m=phi-2&m=nope", headers=HTML)
    assert unknown.status_code == 400 and "no model &#39;nope&#39;" in unknown.text
    assert site.get("/compare?benchmark=NotABenchmark", headers=HTML).status_code == 400


def test_model_page_shows_each_score_with_setting_source_and_verification(
    site: TestClient,
) -> None:
    page = site.get("/models/deepseek-ai/DeepSeek-R1", headers=HTML).text
    assert '<th scope="row">AIME-2024</th>' in page and "DeepSeek-R1 README" in page
    assert "pass@1" in page  # the setting
    oss = site.get("/models/openai/gpt-oss-120b", headers=HTML).text
    assert "reasoning high" in oss
    assert "unverified: not read at an official source, not used for routing" in oss


def test_compare_charts_todays_models_on_a_current_benchmark(site: TestClient) -> None:
    page = site.get("/compare", headers=HTML)
    data = re.search(r'<script type="application/json" id="pareto-data">(.*?)</script>', page.text)
    assert data is not None
    points = json.loads(data.group(1))
    text = json.dumps(points)
    assert "deepseek-ai/DeepSeek-R1" in text and "moonshotai/Kimi-K2-Instruct" in text
    catalog = site.get("/", headers=HTML).text
    for name in ("MMLU-Pro", "GPQA-Diamond", "LiveCodeBench", "IFEval", "BFCL"):
        assert f'<option value="{name}"' in catalog


# --- licence checker and the saved profile ------------------------------------------------------


def test_checker_gives_a_verdict_for_every_model(site: TestClient) -> None:
    assert "table" not in site.get("/check", headers=HTML).text.split("<main")[1].split("</main")[0]
    page = site.get("/check?commercial=true&monthly_active_users=10&run=1", headers=HTML)
    assert page.status_code == 200
    models = site.get("/api/models", params={"per_page": 1}).json()["total"]
    assert page.text.count('/bom" aria-label') == models
    assert "Not allowed" in page.text and "Allowed with obligations" in page.text
    assert "/?commercial=true&amp;monthly_active_users=10" in page.text  # to the catalog
    bad = site.get("/check?monthly_active_users=-5&run=1", headers=HTML)
    assert bad.status_code == 400 and "monthly_active_users" in bad.text


def test_saved_profile_expands_into_the_url(site: TestClient) -> None:
    saved = site.post(
        "/profile",
        data={"commercial": "true", "monthly_active_users": "5"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/check?commercial=true&monthly_active_users=5&run=1"
    cookie = saved.headers["set-cookie"]
    assert "HttpOnly" in cookie and "modelyard_profile=" in cookie
    site.cookies.set("modelyard_profile", "commercial=true&monthly_active_users=5")
    try:
        mine = site.get("/?family=qwen-2.5&use=mine", follow_redirects=False)
        assert mine.status_code == 303
        assert mine.headers["location"] == (
            "/?family=qwen-2.5&commercial=true&monthly_active_users=5"
        )
        allowed = site.get(mine.headers["location"], headers=HTML)
        assert "Only models allowed for: commercial use, 5 monthly users" in allowed.text
        assert "Qwen/Qwen2.5-3B" not in rows(allowed.text)  # research licence
        assert "Qwen/Qwen2.5-7B-Instruct" in rows(allowed.text)
    finally:
        site.cookies.clear()
    forged = site.post(
        "/profile", data={"commercial": "true"}, headers={**HTML, "origin": "https://evil.example"}
    )
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    refused = site.post("/profile", data={"monthly_active_users": "-1"}, headers=HTML)
    assert refused.status_code == 400 and "monthly_active_users" in refused.text
    garbled = site.post(
        "/profile",
        content=b"commercial=\xff",
        headers={**HTML, "content-type": "application/x-www-form-urlencoded"},
    )
    assert garbled.status_code == 400 and "UTF-8" in garbled.text


# --- signing in, the playground and spend -------------------------------------------------------


def test_sign_in_sets_a_cookie_scripts_cannot_read(
    site: TestClient, secrets: dict[str, str]
) -> None:
    wrong = site.post("/signin", data={"key": "my-not-a-key", "next": "/spend"}, headers=HTML)
    assert wrong.status_code == 401 and "not valid" in wrong.text
    assert "my-not-a-key" not in wrong.text  # a typed key is never shown back
    right = site.post(
        "/signin", data={"key": secrets["user"], "next": "//evil.example/"}, follow_redirects=False
    )
    assert right.status_code == 303 and right.headers["location"] == "/playground"
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    playground = site.get("/playground", headers={**HTML, **signed_in(site, secrets["user"])})
    assert "Acting as key <strong>pages-user</strong>" in playground.text
    out = site.post("/signout", follow_redirects=False)
    assert out.status_code == 303 and 'modelyard_key=""' in out.headers["set-cookie"]


def test_playground_decides_as_the_signed_in_key(site: TestClient, secrets: dict[str, str]) -> None:
    form = {"prompt": "Hello there", "model": "auto", "privacy": "local_only", "max_tokens": "8"}
    anonymous = site.post("/playground/decision", data=form, headers={"HX-Request": "true"})
    assert anonymous.status_code == 401 and "sign in" in anonymous.text.lower()
    cookie = signed_in(site, secrets["user"])
    elsewhere = site.post(
        "/playground/decision",
        data=form,
        headers={**cookie, "origin": "https://evil.example", "HX-Request": "true"},
    )
    assert elsewhere.status_code == 403
    decided = site.post("/playground/decision", data=form, headers={**cookie, "HX-Request": "true"})
    assert decided.status_code == 200
    assert 'id="chosen" data-ready="true"' in decided.text
    assert "embedded/smollm2-135m-instruct" in decided.text
    assert 'title="90% interval: a need is met by its lower end"' in decided.text
    assert "prompts would leave our machines" in decided.text  # every exclusion says why
    # The effective limits, and where each came from (the form's privacy is the request's).
    assert 'id="policy-limits"' in decided.text and "request (route)" in decided.text
    nothing = site.post(
        "/playground/decision",
        data={**form, "min_quality": "0.99"},
        headers={**cookie, "HX-Request": "true"},
    )
    assert 'data-ready="false"' in nothing.text and "quality" in nothing.text
    invalid = site.post(
        "/playground/decision",
        data={**form, "min_quality": "7"},
        headers={**cookie, "HX-Request": "true"},
    )
    assert invalid.status_code == 400 and "min_quality" in invalid.text


def test_playground_streams_the_answer(site: TestClient, secrets: dict[str, str]) -> None:
    form = {"prompt": "Say hi", "model": "auto", "privacy": "local_only", "max_tokens": "8"}
    with site.stream(
        "POST", "/playground/stream", data=form, headers=signed_in(site, secrets["user"])
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-modelyard-deployment"] == "embedded/smollm2-135m-instruct"
        body = "".join(response.iter_text())
    assert body.rstrip().endswith("data: [DONE]")


def test_playground_shows_what_privacy_auto_found(
    site: TestClient, secrets: dict[str, str]
) -> None:
    prompt = "Refund card 4539 5787 6362 1486 and tell maria.gonzalez84@gmail.com"
    form = {"prompt": prompt, "model": "auto", "privacy": "auto", "max_tokens": "8"}
    cookie = signed_in(site, secrets["user"])
    decided = site.post("/playground/decision", data=form, headers={**cookie, "HX-Request": "true"})
    assert decided.status_code == 200
    assert 'id="privacy"' in decided.text
    assert "only deployments on our machines" in decided.text
    assert "payment card" in decided.text and "email" in decided.text
    assert "it stays on our machines (privacy: auto)" in decided.text  # each hosted exclusion
    assert "4539" not in decided.text and "maria" not in decided.text
    assert "embedded/smollm2-135m-instruct" in decided.text
    clean = site.post(
        "/playground/decision",
        data={**form, "prompt": "Say hi"},
        headers={**cookie, "HX-Request": "true"},
    )
    assert "Nothing personal or secret found" in clean.text


def _history(settings: Settings) -> None:
    engine, factory = session_factory_for(settings)
    with factory() as session:
        from router.accounts import repository

        owners = {n: repository.key_by_name(session, n) for n in ("pages-admin", "pages-user")}
    now = dt.datetime.now(dt.UTC)
    entries = [
        usage_entry(
            f"pages-{name}-{day}",
            api_key_id=owner.id if owner else None,
            model_name="mistralai/Mistral-7B-Instruct-v0.2",
            input_tokens=1000,
            output_tokens=100,
            cost_usd=Decimal("0.002"),
            created_at=now - dt.timedelta(days=day),
        )
        for name, owner in owners.items()
        for day in range(3)
    ]
    write_entries(factory, entries)
    engine.dispose()


def test_spend_per_key_and_model(
    site: TestClient, secrets: dict[str, str], seeded_settings: Settings
) -> None:
    assert "Sign in with an API key" in site.get("/spend", headers=HTML).text
    _history(seeded_settings)
    admin = signed_in(site, secrets["admin"])
    every = site.get("/spend?all_keys=true&reference=llama-2-70b-chat", headers={**HTML, **admin})
    assert every.status_code == 200
    data = re.search(r'id="spend-data">(.*?)</script>', every.text)
    assert data is not None
    series = json.loads(data.group(1))
    assert {s["label"] for s in series["by_key"]} >= {"pages-admin", "pages-user"}
    assert series["spent"] == sorted(series["spent"])  # a running total
    assert series["reference"]["label"] == "meta-llama/Llama-2-70b-chat-hf"
    assert len(series["reference"]["data"]) == len(series["days"]) == 31  # the default period
    assert '<option value="meta-llama/Llama-2-70b-chat-hf" selected>' in every.text
    # A user key sees its own spend only, whatever it asks for.
    own = site.get("/spend?all_keys=true", headers={**HTML, **signed_in(site, secrets["user"])})
    mine = re.search(r'id="spend-data">(.*?)</script>', own.text)
    assert mine is not None and "pages-admin" not in mine.group(1)
    backwards = site.get("/spend?since=2026-02-01&until=2026-01-01", headers={**HTML, **admin})
    assert backwards.status_code == 400 and "since is after until" in backwards.text
    ages = site.get("/spend?since=1900-01-01", headers={**HTML, **admin})
    assert ages.status_code == 400 and "at most 366 days" in ages.text


def test_usage_api_breaks_spend_down_by_key_and_day(
    site: TestClient, secrets: dict[str, str]
) -> None:
    usage = site.get(
        "/api/usage",
        params={"all_keys": "true"},
        headers={"authorization": f"Bearer {secrets['admin']}"},
    ).json()
    keys_seen = {row["key"] for row in usage["by_key"]}
    assert {"pages-admin", "pages-user"} <= keys_seen
    per_day = [
        r for r in usage["by_day_model"] if r["model"] == "mistralai/Mistral-7B-Instruct-v0.2"
    ]
    assert sum(r["cost_usd"] for r in per_day) == pytest.approx(
        next(m["cost_usd"] for m in usage["by_model"] if m["model"] == per_day[0]["model"])
    )


# --- catalog text is text -----------------------------------------------------------------------


def test_a_hostile_model_card_renders_as_text(site: TestClient, secrets: dict[str, str]) -> None:
    card: dict[str, Any] = {
        "hf_id": "test/hostile",
        "name": HOSTILE,
        "family": "hostile",
        "aliases": ['"><svg onload=alert(1)>'],
        "licenses": [{"license": "mit", "note": HOSTILE}],
        "notes": HOSTILE,
        "scores": [{"benchmark": "MMLU", "score": 99, "source": HOSTILE}],
    }
    admin = {"authorization": f"Bearer {secrets['admin']}"}
    assert site.post("/api/models", json=card, headers=admin).status_code == 201
    deployment = {
        "model": "test/hostile",
        "kind": "hosted",
        "provider": "openai",
        "served_name": "x",
        "input_cost_per_token": 1e-7,
        "output_cost_per_token": 1e-7,
    }
    assert site.post("/api/deployments", json=deployment, headers=admin).status_code == 201
    for path in (
        "/?q=hostile",
        "/models/test/hostile",
        "/compare?m=test/hostile&m=phi-2&benchmark=MMLU",
        "/check?run=1",
    ):
        page = site.get(path, headers=HTML)
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text, path
        assert "<img src=x" not in page.text and "<svg onload" not in page.text, path
        assert "&lt;script&gt;alert(&#34;card&#34;)&lt;/script&gt;" in page.text or (
            "\\u003cscript\\u003e" in page.text
        ), path


def test_a_licence_conflict_is_flagged(site: TestClient, secrets: dict[str, str]) -> None:
    upload = {
        "hf_id": "test/llama-2-7b-relicensed",
        "name": "Relicensed Llama 2 upload",
        "family": "llama-2",
        "licenses": [{"license": "apache-2.0"}],
        "parents": [{"model": "meta-llama/Llama-2-7b-hf", "relation": "quantized"}],
    }
    admin = {"authorization": f"Bearer {secrets['admin']}"}
    assert site.post("/api/models", json=upload, headers=admin).status_code == 201
    listed = site.get("/?q=relicensed", headers=HTML).text
    assert ">conflict</span>" in listed
    page = site.get("/models/test/llama-2-7b-relicensed", headers=HTML).text
    assert "Licence conflict:" in page and "llama2" in page


@pytest.mark.parametrize(
    "path",
    [
        "/?q=%00",
        "/?q=" + "x" * 5000,
        "/?page=999999999999",
        "/?per_page=-1",
        "/?sort=;drop table models",
        "/?family=' OR 1=1 --",
        "/?commercial=maybe",
        "/models/..%2F..%2Fetc%2Fpasswd",
        "/models/%00",
        "/compare?m=%00&m=phi-2",
        "/compare?benchmark=%00",
        "/check?run=1&date=not-a-date",
        "/check?run=1&derivative_name=%00",
        "/spend?since=2026-13-45",
    ],
)
def test_hostile_page_input_gets_a_clear_4xx(site: TestClient, path: str) -> None:
    response = site.get(path, headers=HTML)
    assert response.status_code in (200, 400, 404), (path, response.status_code)
    assert "text/html" in response.headers["content-type"]
    assert "Traceback" not in response.text and "internal" not in response.text.lower()
