"""The pages in a real browser: Debian's Chromium driven by Playwright, against a real
`modelyard serve` process on SQLite with the embedded SmolLM2 model. Every page is loaded at
desktop and phone widths with its console watched, and saved as a screenshot under
test-artifacts/screenshots/ to be looked at."""

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import prepare_database, start_gateway
from tests.servers import REPO, ServerProcess

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
# As root Chromium needs --no-sandbox; the rest keep it from calling home on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
HOSTILE_NAME = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    folder = tmp_path_factory.mktemp("pages")
    url = f"sqlite:///{folder / 'modelyard.db'}"
    secrets = prepare_database(url, folder, api_keys={"team-a": {}}, admin_keys=("admin",))
    spent_last_week(url, folder)
    env = {"MODELYARD_DATABASE_URL": url, "MODELYARD_LEDGER_FLUSH_SECONDS": "0.1"}
    server = start_gateway(folder, env, "pages")
    try:
        yield server, secrets["admin"]
    finally:
        server.stop()


def spent_last_week(url: str, folder: Path) -> None:
    """A week of priced requests by two keys, as the ledger would have written them."""
    from router.accounts import repository
    from router.accounts.ledger import write_entries
    from tests.factories import usage_entry
    from web.app import session_factory_for
    from web.settings import Settings

    engine, factory = session_factory_for(Settings(database_url=url, data_dir=folder))
    with factory() as session:
        key_ids = {n: repository.key_by_name(session, n).id for n in ("admin", "team-a")}  # type: ignore[union-attr]
    now = dt.datetime.now(dt.UTC)
    entries = [
        usage_entry(
            f"history-{day}-{key}-{model}",
            api_key_id=key_ids[key],
            model_name=model,
            deployment_name=f"hosted/{model}",
            input_tokens=2000 * (day + 1),
            output_tokens=500 * (day + 1),
            cost_usd=Decimal(cost) * (day + 1),
            created_at=now - dt.timedelta(days=day),
        )
        for day in range(7)
        for key, model, cost in (
            ("admin", "mistralai/Mistral-7B-Instruct-v0.2", "0.0004"),
            ("team-a", "meta-llama/Llama-2-13b-chat-hf", "0.0009"),
            ("team-a", "mistralai/Mistral-7B-Instruct-v0.2", "0.0003"),
        )
    ]
    write_entries(factory, entries)
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page whose console errors and uncaught exceptions are collected."""

    def __init__(self, browser: Any, base_url: str, viewport: dict[str, int]) -> None:
        self.context = browser.new_context(viewport=viewport, base_url=base_url)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on(
            "console",
            lambda m: self.problems.append(f"console: {m.text}") if m.type == "error" else None,
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))

    def open(self, path: str) -> Any:
        response = self.page.goto(path, wait_until="networkidle")
        assert response is not None
        return response

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def sign_in(self, key: str) -> None:
        self.open("/signin?next=/playground")
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(re.compile(r"/playground$"))


@pytest.fixture
def desktop(browser: Any, site: tuple[ServerProcess, str]) -> Iterator[Watched]:
    watched = Watched(browser, site[0].base_url, DESKTOP)
    yield watched
    watched.context.close()


PAGES = {
    "catalog": "/",
    "model-phi-2": "/models/phi-2",
    "model-llama-2-chat": "/models/meta-llama/Llama-2-7b-chat-hf",
    "compare": "/compare?m=phi-2&m=mistral-7b&m=meta-llama/Llama-2-7b-chat-hf",
    "checker": "/check?commercial=true&monthly_active_users=1000&run=1",
    "signin": "/signin",
    "playground-signed-out": "/playground",
}
SIGNED_IN = {
    "playground": "/playground",
    "spend": "/spend?all_keys=true&reference=mistral-7b",
    "quality": "/quality",
    "admin": "/admin",
}


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_every_page_loads_without_console_errors(
    browser: Any, site: tuple[ServerProcess, str], width: str
) -> None:
    watched = Watched(browser, site[0].base_url, DESKTOP if width == "desktop" else PHONE)

    def check(name: str, path: str) -> None:
        response = watched.open(path)
        assert response.status == 200, (path, response.status)
        assert watched.page.locator("h1").count() == 1
        # Readable on a phone: nothing wider than the screen but what scrolls inside a box.
        overflow = watched.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, (path, width, overflow)
        watched.shot(f"{name}-{width}")

    try:
        for name, path in PAGES.items():
            check(name, path)
        watched.sign_in(site[1])
        for name, path in SIGNED_IN.items():
            check(name, path)
        assert watched.problems == []
    finally:
        watched.context.close()


def test_every_form_control_has_a_label(desktop: Watched) -> None:
    unlabeled = []
    for path in ("/", "/compare", "/check", "/signin"):
        desktop.open(path)
        unlabeled += desktop.page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                .filter(el => el.labels.length === 0 && !el.getAttribute('aria-label'))
                .map(el => location.pathname + ' ' + (el.name || el.id))"""
        )
    assert unlabeled == []


LOW_CONTRAST_TEXT = (Path(__file__).parent / "low_contrast_text.js").read_text()


def test_text_contrast_meets_wcag_aa(desktop: Watched) -> None:
    low = []
    for path in (
        "/",
        "/models/meta-llama/Llama-2-7b-chat-hf",
        "/check?commercial=true&run=1",
        "/compare?m=phi-2&m=mistral-7b",
        "/?min_params=lots",
    ):
        desktop.open(path)
        low += [f"{path}: {item}" for item in desktop.page.evaluate(LOW_CONTRAST_TEXT)]
    assert low == []


def test_keyboard_reaches_the_content_first(desktop: Watched) -> None:
    desktop.open("/")
    desktop.page.keyboard.press("Tab")
    assert desktop.page.evaluate("document.activeElement.textContent") == "Skip to content"
    desktop.page.keyboard.press("Enter")
    assert desktop.page.evaluate("document.activeElement.id") == "main"


def _rows(watched: Watched) -> list[str]:
    return watched.page.locator("table.models tbody tr th[scope=row] a").all_inner_texts()


def test_catalog_filters_change_the_list_and_the_url(desktop: Watched) -> None:
    desktop.open("/")
    everything = _rows(desktop)
    assert len(everything) > 20

    desktop.page.get_by_label("Family").select_option("llama-2")
    desktop.page.wait_for_url(re.compile(r"family=llama-2"))
    desktop.page.wait_for_function("document.querySelectorAll('table.models tbody tr').length < 20")
    llamas = _rows(desktop)
    assert 0 < len(llamas) < len(everything)
    families = desktop.page.locator("table.models tbody tr td:nth-child(2)").all_inner_texts()
    assert set(families) == {"llama-2"}

    desktop.page.get_by_label("Search").fill("chat")
    desktop.page.wait_for_url(re.compile(r"q=chat"))
    desktop.page.wait_for_function(
        "[...document.querySelectorAll('table.models tbody th a')].every(a =>"
        " a.parentElement.textContent.toLowerCase().includes('chat'))"
    )
    chats = _rows(desktop)
    assert 0 < len(chats) < len(llamas)

    # The URL is the view: opened fresh, it shows the same list with the same controls set.
    shared = desktop.page.url
    desktop.open(shared)
    assert _rows(desktop) == chats
    assert desktop.page.get_by_label("Family").input_value() == "llama-2"
    desktop.shot("catalog-filtered")
    assert desktop.problems == []


def test_checker_answers_and_the_saved_profile_filters_the_catalog(desktop: Watched) -> None:
    desktop.open("/check")
    desktop.page.get_by_label("Commercial use").check()
    desktop.page.get_by_label("Monthly active users", exact=True).fill("800000000")
    desktop.page.get_by_label("Users in the month before the licence's release").fill("800000000")
    desktop.page.get_by_role("button", name="Check every model").click()
    desktop.page.wait_for_selector("table.verdicts")
    llama = desktop.page.locator("table.verdicts tr", has_text="Llama 2 7B Chat")
    assert "Not allowed" in llama.first.inner_text() or "Needs review" in llama.first.inner_text()
    assert "commercial=true" in desktop.page.url
    desktop.shot("checker-answered")

    desktop.page.get_by_role("button", name="Save as my profile").click()
    desktop.page.wait_for_selector("table.verdicts")
    desktop.open("/")
    desktop.page.get_by_role("link", name="Only models allowed for my use").click()
    desktop.page.wait_for_url(re.compile(r"commercial=true"))
    assert "monthly_active_users=800000000" in desktop.page.url
    verdicts = desktop.page.locator("table.models tbody tr td:nth-child(6)").all_inner_texts()
    assert verdicts and all(v.startswith("Allowed") for v in verdicts)
    assert not any("Llama 2" in name for name in _rows(desktop))
    assert desktop.problems == []


def test_playground_streams_an_answer_from_the_embedded_model(
    desktop: Watched, site: tuple[ServerProcess, str]
) -> None:
    desktop.sign_in(site[1])
    desktop.page.get_by_label("Prompt").fill("Name one colour.")
    desktop.page.get_by_label("Privacy").select_option("local_only")
    desktop.page.get_by_label("Answer length (tokens)").fill("24")
    desktop.page.get_by_role("button", name="Route and answer").click()
    desktop.page.wait_for_selector("#chosen[data-ready=true]")
    assert "smollm2" in desktop.page.locator("#chosen").inner_text().lower()
    # Hosted deployments were excluded by the privacy rule, each with its reason.
    desktop.page.get_by_text("Excluded deployments").click()
    assert desktop.page.locator("details.excluded td", has_text="privacy").count() > 0
    desktop.page.wait_for_selector("#answer[data-state=done]", timeout=60_000)
    assert desktop.page.locator("#answer").inner_text().strip() != ""
    assert "smollm2" in desktop.page.locator("#answer-meta").inner_text().lower()
    desktop.shot("playground-answered")
    assert desktop.problems == []


def test_charts_render(desktop: Watched, site: tuple[ServerProcess, str]) -> None:
    desktop.open("/compare?benchmark=MMLU")
    points = desktop.page.evaluate(
        "() => { const c = Chart.getChart('pareto-chart');"
        " return c.data.datasets.map(d => d.data.length); }"
    )
    assert points[0] >= 2 and sum(points) >= 5
    frontier_rows = desktop.page.locator("#frontier tbody tr").count()
    assert frontier_rows == points[0]

    # Spend needs something spent: one answer through the API, then the admin's spend page.
    answer = httpx.post(
        f"{site[0].base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {site[1]}"},
        json={"model": "auto", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8},
        timeout=60,
    )
    assert answer.status_code == 200
    desktop.sign_in(site[1])
    desktop.page.wait_for_timeout(300)  # the ledger flushes every 0.1 s
    desktop.open("/spend")
    desktop.page.get_by_label("Every key").check()
    desktop.page.get_by_label("Compare with").select_option("meta-llama/Llama-2-70b-chat-hf")
    desktop.page.get_by_role("button", name="Show").click()
    desktop.page.wait_for_url(re.compile(r"all_keys=true"))
    assert int(desktop.page.locator("#spend-requests").inner_text()) >= 22  # 21 + ours
    days, keys, saving = desktop.page.evaluate(
        "() => ['spend-days', 'spend-keys', 'spend-saving-chart']"
        ".map(id => Chart.getChart(id).data)"
    )
    assert len(days["labels"]) == 31 and keys["labels"] == days["labels"]  # 30 days back
    assert {d["label"] for d in days["datasets"]} >= {
        "mistralai/Mistral-7B-Instruct-v0.2",
        "meta-llama/Llama-2-13b-chat-hf",
    }
    assert sorted(d["label"] for d in keys["datasets"]) == ["admin", "team-a"]
    spent, at_reference = (d["data"] for d in saving["datasets"])
    assert spent[-1] < at_reference[-1]  # the routed spend sits under the reference's
    assert "%" in desktop.page.locator("#spend-saving").inner_text()
    desktop.shot("spend")
    desktop.open("/compare?benchmark=MMLU")
    desktop.shot("compare-chart")
    assert desktop.problems == []


def test_catalog_text_renders_as_text(desktop: Watched, site: tuple[ServerProcess, str]) -> None:
    model = {
        "hf_id": "test/hostile-card",
        "name": HOSTILE_NAME,
        "family": "hostile",
        "licenses": [{"license": "mit"}],
        "notes": HOSTILE_NAME,
        "scores": [{"benchmark": "MMLU", "score": 50, "source": HOSTILE_NAME}],
    }
    created = httpx.post(
        f"{site[0].base_url}/api/models",
        headers={"Authorization": f"Bearer {site[1]}"},
        json=model,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    desktop.page.wait_for_timeout(1200)  # the snapshot poll picks the change up
    for path in ("/?q=hostile", "/models/test/hostile-card", "/compare?m=test/hostile-card"):
        desktop.open(path)
        assert desktop.page.get_by_text(HOSTILE_NAME).count() >= 1, path
        assert desktop.page.evaluate("window.__pwned") is None, path
    desktop.shot("hostile-model")
    assert desktop.problems == []


def test_the_admin_page_shows_keys_teams_spend_and_the_audit_log(
    desktop: Watched, site: tuple[ServerProcess, str]
) -> None:
    server, admin = site
    auth = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=server.base_url, headers=auth) as api:
        assert api.post("/api/teams", json={"name": "growth", "budget_usd_per_day": 12}).is_success
        api.post("/api/teams/growth/members", json={"key": "team-a"}).raise_for_status()
        api.post("/api/keys", json={"name": "browser-made"}).raise_for_status()
        api.post("/api/keys/browser-made/rotate").raise_for_status()
    desktop.sign_in(admin)
    desktop.open("/admin")
    page = desktop.page
    team = page.locator('#admin-teams tr[data-team="growth"]')
    assert "team-a" in team.inner_text() and "$12" in team.inner_text()
    spent = page.locator('#admin-keys tr[data-key="team-a"] td.num').inner_text()
    assert spent.startswith("$") and spent != "$0.000000"  # today's part of last week's spend
    actions = page.locator("#admin-audit td.action").all_inner_texts()
    assert actions[:4] == ["key.rotate", "key.create", "team.add_member", "team.create"]
    page.get_by_label("Action").fill("team")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"action=team"))
    assert set(page.locator("#admin-audit td.action").all_inner_texts()) == {
        "team.create",
        "team.add_member",
    }
    desktop.shot("admin-desktop")
    assert desktop.problems == []


def test_the_admin_page_is_for_admin_keys(browser: Any, site: tuple[ServerProcess, str]) -> None:
    server, admin = site
    made = httpx.post(
        f"{server.base_url}/api/keys",
        json={"name": "not-an-admin"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert made.status_code == 201, made.text
    watched = Watched(browser, server.base_url, DESKTOP)
    try:
        assert watched.open("/admin").status == 401
        watched.sign_in(made.json()["secret"])
        assert watched.open("/admin").status == 403
    finally:
        watched.context.close()
