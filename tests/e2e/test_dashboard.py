"""The local dashboard and the try-it docs in a real headless browser (Chromium).

Against the stack of the real manifest: a tenant made through the API (accounts, an
entry, a dead letter of its own) and a dead letter of no tenant; each panel of
``/_dashboard`` must show what the API, the state file and Firestore say, and its
buttons (replay, discard, run now) must have their effect. Screenshots are kept in the
test's temporary folder and, when ``TRIBUTUM_TEST_ARTIFACTS`` names a folder, there;
``TRIBUTUM_UPDATE_DOCS_SCREENSHOT=1`` also writes ``docs/dashboard.png``.

Skipped, saying which Debian packages to install, when ``chromium`` or
``chromedriver`` is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from shared.client import Tributum
from shared.events.envelope import new_event
from shared.topology import load_manifest
from tests.e2e.conftest import REPO_ROOT, StackHandle, wait_for

pytestmark = pytest.mark.e2e
T = TypeVar("T")

# A loopback address of its own: signup is throttled per client address.
CLIENT_ADDRESS = "127.0.47.1"
PASSWORD = "correct horse battery staple"
BROWSER_WAIT_SECONDS = 60
MISSING_BROWSER = (
    "headless Chromium is needed: install the Debian packages chromium and chromium-driver "
    "(apt-get install -y chromium chromium-driver)"
)


def _browser_binaries() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip(MISSING_BROWSER)
    return chromium, driver


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium, driver_path = _browser_binaries()
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install -e '.[dev]'")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # as root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1600,2000",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(BROWSER_WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def _until(browser: Any, condition: Callable[[Any], T | None], what: str) -> T:
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    # A panel redraws its rows on every answer: an element read a moment ago may be gone.
    wait = WebDriverWait(
        browser,
        BROWSER_WAIT_SECONDS,
        poll_frequency=0.3,
        ignored_exceptions=(StaleElementReferenceException,),
    )
    try:
        return wait.until(  # type: ignore[no-any-return]
            lambda driver: condition(driver) or None
        )
    except TimeoutException:
        pytest.fail(f"the page never showed {what}", pytrace=False)


def _css(browser: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(browser.find_elements(By.CSS_SELECTOR, selector))


def _text(browser: Any, selector: str) -> str:
    found = _css(browser, selector)
    return str(found[0].text) if found else ""


@dataclass(frozen=True)
class Scene:
    """What the test made through the API, and what the API answers about it."""

    tenant_id: str
    cash_id: str
    equity_id: str
    trial_balance: dict[str, Any]
    tenant_letter: dict[str, Any]
    orphan_letter_id: str
    correlation_id: str


def _client(stack: StackHandle) -> Tributum:
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    return Tributum(stack.gateway_url, transport=transport, timeout=60)


@pytest.fixture(scope="module")
def scene(product: StackHandle) -> Iterator[Scene]:
    email = f"dashboard-{uuid.uuid4().hex[:10]}@example.com"
    with _client(product) as owner:
        owner.sign_up({"email": email, "password": PASSWORD, "name": "Dash Board"})
        owner.log_in(email, PASSWORD)
        tenant_id = str(owner.get_me()["tenant_id"])
        cash = owner.create_account(
            {"code": "1000-cash", "name": "Cash", "type": "asset", "currency": "EUR"}
        )["id"]
        equity = owner.create_account(
            {"code": "3000-equity", "name": "Equity", "type": "equity", "currency": "EUR"}
        )["id"]
        for amount in ("250.00", "40.50"):
            owner.post_journal_entry(
                {
                    "description": "owner contribution",
                    "lines": [
                        {"account_id": cash, "side": "debit", "amount": amount},
                        {"account_id": equity, "side": "credit", "amount": amount},
                    ],
                }
            )
        trial_balance = owner.get_trial_balance()

        # An event of a type send_mail does not accept: rejected, kept under the tenant.
        probe = new_event(
            "e2e.dashboard_probe",
            source="e2e",
            subject=f"probe/{uuid.uuid4().hex}",
            tenant_id=tenant_id,
            data={"n": 1},
        )
        pubsub = product.pubsub()
        pubsub.publish("mail-requests", probe.to_bytes(), probe.attributes())
        # Not JSON, and no producer key: a dead letter of no tenant.
        orphan_marker = f"dashboard-orphan-{uuid.uuid4().hex}"
        pubsub.publish("ledger-posting-requests", orphan_marker.encode())

        def tenant_letter() -> dict[str, Any] | None:
            page = owner.list_dead_letters(limit=100)
            return next((d for d in page.items if d.get("event_id") == probe.id), None)

        letter = wait_for(tenant_letter, 120, "the tenant's dead letter in the API")
        firestore = product.firestore()

        def orphan() -> str | None:
            for document in _dead_letter_documents(product):
                if document.get("data_text") == orphan_marker:
                    return str(document["__id"])
            return None

        orphan_id = wait_for(orphan, 120, "the tenantless dead letter in Firestore")
        assert firestore.get(f"dead_letters/{orphan_id}")["tenant_id"] is None  # type: ignore[index]

        # One request with a correlation id of our own, for the log filter: without a
        # token it is refused, which the function logs as a WARNING and an INFO line.
        correlation_id = f"dash-{uuid.uuid4().hex}"
        with httpx.Client(transport=httpx.HTTPTransport(local_address=CLIENT_ADDRESS)) as raw:
            reply = raw.get(
                f"{product.gateway_url}/v1/accounts/acc_missing",
                headers={"X-Correlation-ID": correlation_id},
            )
        assert reply.status_code == 401
        yield Scene(tenant_id, cash, equity, trial_balance, letter, orphan_id, correlation_id)


def _dead_letter_documents(stack: StackHandle) -> list[dict[str, Any]]:
    """Every dead letter with its id (the REST list keeps the name beside the fields)."""
    reply = httpx.get(
        f"http://{stack.firestore_address}/v1/projects/{stack.project_id}/databases/(default)"
        "/documents/dead_letters?pageSize=300",
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    documents = []
    for raw in reply.json().get("documents", []):
        fields = raw.get("fields", {})
        text = fields.get("data_text", {}).get("stringValue")
        documents.append({"__id": raw["name"].rsplit("/", 1)[-1], "data_text": text})
    return documents


def _screenshot(browser: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    browser.save_screenshot(str(path))
    artifacts = os.environ.get("TRIBUTUM_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(artifacts) / name)
    return path


def _open_dashboard(browser: Any, stack: StackHandle, fragment: str = "") -> None:
    browser.get("about:blank")  # a new page load, even when only the fragment differs
    browser.get(f"{stack.gateway_url}/_dashboard{fragment}")
    _until(browser, lambda b: "updated" in _text(b, "#functions .status"), "the functions")


def test_the_functions_panel_shows_the_stack_s_state(
    browser: Any, product: StackHandle, scene: Scene
) -> None:
    _open_dashboard(browser, product)
    status = product.cli("status", "--json")
    components = {c["name"]: c for c in json.loads(status.stdout)["components"]}
    rows = {
        row.get_attribute("data-name"): [
            cell.text for cell in row.find_elements("css selector", "td")
        ]
        for row in _css(browser, "#functions tbody tr")
    }
    assert set(rows) == set(components)
    manifest = load_manifest(product.manifest)
    assert {fn.name for fn in manifest.functions} <= set(rows)
    for name, component in components.items():
        port = "-" if component["port"] is None else str(component["port"])
        assert rows[name][3] == port, name
        assert rows[name][4] == ("healthy" if component["healthy"] else rows[name][4])
        assert rows[name][5] == "0"  # nothing was restarted


def test_the_log_panel_filters_by_correlation_id_and_severity(
    browser: Any, product: StackHandle, scene: Scene
) -> None:
    from selenium.webdriver.support.ui import Select

    _open_dashboard(browser, product)
    form = _css(browser, "#log-filters")[0]
    _until(
        browser, lambda b: len(Select(form.find_element("name", "log")).options) > 5, "log names"
    )
    Select(form.find_element("name", "log")).select_by_value("accounts")
    Select(form.find_element("name", "severity")).select_by_value("WARNING")
    form.find_element("name", "correlation_id").send_keys(scene.correlation_id)
    form.find_element("css selector", "button[type=submit]").click()

    def lines(b: Any) -> list[str] | None:
        shown = [div.text for div in _css(b, "#logs .log-lines div")]
        return shown if shown and all(scene.correlation_id in line for line in shown) else None

    shown = _until(browser, lines, "the request's log lines")
    assert all("[accounts]" in line for line in shown)
    assert any("WARNING" in line and "status=401" in line for line in shown)
    assert not any(" INFO " in line for line in shown)


def test_the_ledger_panel_shows_the_api_s_trial_balance(
    browser: Any, product: StackHandle, scene: Scene, tmp_path: Path
) -> None:
    from selenium.webdriver.support.ui import Select

    _open_dashboard(browser, product)
    select = _until(browser, lambda b: _css(b, "#ledger-tenant option"), "the tenants")
    assert select
    Select(_css(browser, "#ledger-tenant")[0]).select_by_value(scene.tenant_id)
    [eur] = scene.trial_balance["currencies"]

    def row(account_id: str) -> list[str]:
        found = _css(browser, f'#ledger table[data-currency="EUR"] tr[data-account="{account_id}"]')
        return [cell.text for cell in found[0].find_elements("css selector", "td")] if found else []

    _until(browser, lambda b: row(scene.cash_id), "the tenant's trial balance")
    by_id = {a["account_id"]: a for a in eur["accounts"]}
    for account_id in (scene.cash_id, scene.equity_id):
        expected = by_id[account_id]
        assert row(account_id) == [
            expected["code"],
            expected["name"],
            expected["type"],
            expected["debit"],
            expected["credit"],
        ]
    total = _css(browser, '#ledger table[data-currency="EUR"] tr.total td')
    assert [total[3].text, total[4].text] == [eur["total_debits"], eur["total_credits"]]
    assert (eur["total_debits"], eur["total_credits"]) == ("290.50", "290.50")
    assert "balanced" in _text(browser, "#ledger .balances p")
    browser.execute_script("window.scrollTo(0, 0)")
    shot = _screenshot(browser, tmp_path, "dashboard.png")
    if os.environ.get("TRIBUTUM_UPDATE_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(shot, REPO_ROOT / "docs" / "dashboard.png")


def _dead_letter_row(browser: Any, dead_letter_id: str) -> Any | None:
    found = _css(browser, f'#dead-letters tr[data-id="{dead_letter_id}"]')
    return found[0] if found else None


def test_dead_letters_of_every_tenant_are_inspected_replayed_and_discarded(
    browser: Any, product: StackHandle, scene: Scene
) -> None:
    _open_dashboard(browser, product)
    letter_id = scene.tenant_letter["id"]
    owned = _until(browser, lambda b: _dead_letter_row(b, letter_id), "the tenant's dead letter")
    cells = [c.text for c in owned.find_elements("css selector", "td")]
    assert cells[1:5] == [scene.tenant_id, "mail-requests", scene.tenant_letter["reason"], "stored"]
    orphan = _dead_letter_row(browser, scene.orphan_letter_id)
    assert orphan is not None
    assert orphan.find_elements("css selector", "td")[1].text == "(none)"

    owned.find_element("css selector", "button.inspect").click()
    detail = _until(browser, lambda b: _text(b, "#dead-letters .detail"), "the dead letter's JSON")
    assert json.loads(detail)["event_id"] == scene.tenant_letter["event_id"]

    owned.find_element("css selector", "button.replay").click()
    _until(
        browser,
        lambda b: (
            (r := _dead_letter_row(b, letter_id)) and r.get_attribute("data-status") == "replayed"
        ),
        "the dead letter replayed",
    )
    record = product.firestore().get(f"dead_letters/{letter_id}")
    assert record is not None
    assert (record["status"], record["replay_count"]) == ("replayed", 1)
    assert record["replayed_by"] == {"system": "local-dashboard"}

    orphan = _dead_letter_row(browser, scene.orphan_letter_id)
    orphan.find_element("css selector", "button.discard").click()
    _until(
        browser,
        lambda b: (
            (r := _dead_letter_row(b, scene.orphan_letter_id))
            and r.get_attribute("data-status") == "discarded"
        ),
        "the tenantless dead letter discarded",
    )
    discarded = product.firestore().get(f"dead_letters/{scene.orphan_letter_id}")
    assert discarded is not None and discarded["status"] == "discarded"
    assert discarded["tenant_id"] is None


def test_the_firestore_browser_shows_a_document_as_json(
    browser: Any, product: StackHandle, scene: Scene
) -> None:
    _open_dashboard(browser, product, f"#firestore:tenants/{scene.tenant_id}")
    link = _until(
        browser,
        lambda b: _css(b, f'#firestore .entries a[data-path="tenants/{scene.tenant_id}/accounts"]'),
        "the tenant's collections",
    )
    link[0].click()
    account_path = f"tenants/{scene.tenant_id}/accounts/{scene.cash_id}"
    _until(
        browser, lambda b: _css(b, f'#firestore .entries a[data-path="{account_path}"]'), "accounts"
    )[0].click()
    shown = _until(browser, lambda b: _text(b, "#firestore .document"), "the account document")
    document = json.loads(shown)
    stored = product.firestore().get(account_path)
    assert stored is not None
    assert document["code"] == stored["code"] == "1000-cash"
    assert document["name"] == stored["name"]
    assert "balance_shards" in _text(browser, "#firestore .entries")


def test_schedules_are_listed_and_run_now_publishes_a_tick(
    browser: Any, product: StackHandle, scene: Scene
) -> None:
    _open_dashboard(browser, product)
    manifest = load_manifest(product.manifest)
    scheduled = {t.name: t.schedule for t in manifest.topics if t.schedule is not None}
    _until(browser, lambda b: len(_css(b, "#schedules tbody tr")) == len(scheduled), "schedules")
    for topic, schedule in scheduled.items():
        cells = [c.text for c in _css(browser, f'#schedules tr[data-topic="{topic}"] td')]
        assert cells[1:3] == [schedule.cron, schedule.time_zone]
        assert cells[3]  # the next tick

    _css(browser, '#schedules tr[data-topic="reconcile-ledger-schedule"] button.run-now')[0].click()
    message = _until(
        browser,
        lambda b: "published a tick" in (t := _text(b, "#schedules .status")) and t,
        "the tick published",
    )
    assert "reconcile-ledger-schedule" in message
    # The tick's effect: the hourly reconciliation ran for the new tenant too.
    firestore = product.firestore()
    latest = wait_for(
        lambda: firestore.get(f"tenants/{scene.tenant_id}/reconciliations/latest"),
        120,
        "the reconciliation the tick started",
    )
    assert latest


def test_topics_and_mail_panels(browser: Any, product: StackHandle, scene: Scene) -> None:
    _open_dashboard(browser, product)
    manifest = load_manifest(product.manifest)
    _until(browser, lambda b: _css(b, '#topics tr[data-topic="mail-requests"]'), "the topics")
    shown = {row.get_attribute("data-topic") for row in _css(browser, "#topics tbody tr")}
    assert shown == {t.name for t in manifest.topics}
    mail_row = _css(browser, '#topics tr[data-topic="mail-requests"] td')
    stored, total = (int(n) for n in mail_row[2].text.split(" / "))
    assert total >= 1 and stored <= total
    assert "mail-requests--send_mail" in mail_row[3].text
    _until(browser, lambda b: _text(b, "#mail .status"), "the mail panel")
    status = _text(browser, "#mail .status")
    # The stack runs a mail sink (or uses the one there): the scene's signup sent the
    # owner a verification email, so its mailbox lists at least that one.
    assert "updated" in status, status
    _until(browser, lambda b: _css(b, "#mail tbody tr"), "an email in the mail panel")


def test_the_try_it_docs_are_swagger_ui_with_bearer_auth_and_examples(
    browser: Any, product: StackHandle, tmp_path: Path
) -> None:
    browser.get(f"{product.gateway_url}/docs")
    _until(browser, lambda b: _css(b, ".swagger-ui .opblock"), "the operations")
    assert _css(browser, ".swagger-ui .btn.authorize"), "the Authorize (bearer token) button"
    # Every script and style sheet came from the gateway itself.
    sources = browser.execute_script(
        "return Array.from(document.querySelectorAll('script[src],link[href]'))"
        ".map(e => e.src || e.href)"
    )
    assert sources and all(s.startswith(product.gateway_url) for s in sources), sources
    post = next(
        op
        for op in _css(browser, ".opblock-post")
        if op.find_element("css selector", ".opblock-summary-path").text == "/v1/accounts"
    )
    post.find_element("css selector", ".opblock-summary").click()
    # Try-it is on: the body editor holds the first of the route's examples, and the
    # examples menu offers the others.
    editor = _until(
        browser,
        lambda b: post.find_elements("css selector", ".opblock-section-request-body textarea"),
        "the request body's editor",
    )
    assert json.loads(editor[0].get_attribute("value"))["code"] == "1000-cash"
    menu = post.find_elements("css selector", ".opblock-section-request-body .examples-select")
    assert menu and "example 2" in menu[0].text
    _screenshot(browser, tmp_path, "docs.png")
    landing = httpx.get(f"{product.gateway_url}/", timeout=30)
    assert landing.status_code == 200
    for href in ('href="/docs"', 'href="/_dashboard"', 'href="/openapi.json"'):
        assert href in landing.text
