"""End to end in headless Chromium: sign in, a template error shown at its line, fix it, preview, launch
(planned by a real Celery worker), and the campaign page's charts. Screenshots of every page are saved to
tests/artifacts/screenshots/ and, with SENDWISE_SCREENSHOTS=1, copied to tests/screenshots/ for the README.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.db import session_scope
from app.models.schemas import EspConnectionIn
from app.platform import esp_config
from tests.dashboard.helpers import add_engagement, make_workspace, planned_campaign

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "tests" / "artifacts" / "screenshots"
DOCS_SHOTS = ROOT / "tests" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _ensure_chromium() -> None:
    if CHROMIUM.exists():
        return
    try:
        subprocess.run(["apt-get", "update"], check=True, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "chromium"], check=True, capture_output=True, timeout=1200,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"/usr/bin/chromium is absent and could not be installed ({type(exc).__name__})")
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent and could not be installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The real app under uvicorn, on the test database and broker."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = SHOTS.parent / "uvicorn.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, "PUBLIC_BASE_URL": base}, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        t0 = time.time()
        while True:
            try:
                if httpx.get(base + "/signin", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.time() - t0 > 60:
                raise RuntimeError(f"uvicorn did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _seed() -> tuple[str, str, str]:
    """A workspace with customers, an ESP and a campaign with engagement to report on."""
    ws_id, key = make_workspace(60)
    with session_scope() as s:
        esp_config.put_connection(s, ws_id, EspConnectionIn(provider="outbox", from_email="news@shop.example",
                                                            from_name="Shop", webhook_signing_key="whsec-demo-1234"))
    report = planned_campaign(ws_id, name="Autumn collection")
    add_engagement(ws_id, report)
    return ws_id, key, report


def _seed_model_rows(ws_id: str) -> None:
    """Real models: a simulated history written into the workspace and fitted, plus a small simulation report."""
    from app.demo.seed import seed_demo
    from app.modelling.simulation_store import store_report
    from app.simulate.sendtime_eval import run_simulation

    seed_demo(ws_id, n_customers=400, seed=5, fit=True, campaign=False)
    with session_scope() as s:
        store_report(s, ws_id, run_simulation((1,), 1500, scenarios={"default": {}}))


def test_sign_in_fix_template_preview_launch_and_see_charts(server, celery_worker_proc):
    _ensure_chromium()
    from playwright.sync_api import expect, sync_playwright

    ws_id, key, report_id = _seed()
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    problems: list[str] = []

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        ctx = browser.new_context(viewport={"width": 1360, "height": 900})
        page = ctx.new_page()
        expected = re.compile(r"status of (401|422)")  # the refused sign-in and the template error, on purpose
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" and not expected.search(m.text)
                else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        def shot(name: str, full: bool = True) -> None:
            page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)

        # Signed out: redirected to sign-in; a bad key is refused with a message.
        page.goto(server + "/campaigns")
        expect(page).to_have_url(server + "/signin?next=%2Fcampaigns")
        page.get_by_label("API key").fill("sw_not-a-key")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("not valid")
        shot("01-sign-in")
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(server + "/campaigns")
        cookie = next(c for c in ctx.cookies() if c["name"] == "sendwise_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

        # Keyboard: the first Tab reaches the skip link.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"
        shot("02-campaigns")

        # New campaign with a template error on line 3.
        page.get_by_role("link", name="New campaign").first.click()
        page.get_by_label("Name", exact=True).fill("Winter sale")
        page.get_by_label("Subject variants").fill(
            "{{ customer.attributes.first_name }}, 30% off\nLast days of the sale")
        page.get_by_label("HTML template").fill(
            "<h1>Hello {{ customer.attributes.first_name }}</h1>\n{{ content }}\n"
            "<p>Until Sunday: {{ campaign.name }</p>\n<p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></p>")
        page.get_by_label("Block 1 name").fill("outdoor")
        page.get_by_label("Block 1 HTML").fill("<p>Tents and sleeping bags, 30% off.</p>")
        page.get_by_label("Block 2 name").fill("fashion")
        page.get_by_label("Block 2 HTML").fill("<p>Coats and scarves, 30% off.</p>")
        now = dt.datetime.now(dt.UTC)
        page.get_by_label("Time zone of these times").fill("UTC")
        page.get_by_label("Window start").fill(now.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_label("Window end").fill((now + dt.timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M"))
        page.get_by_label("Holdout fraction").fill("0.2")
        page.get_by_label("Frequency cap").fill("0")  # the seeded report campaign reaches the same customers
        page.get_by_label("Preview for customer").fill("c1")
        page.get_by_role("button", name="Preview").click()
        error = page.locator("#err-template_html")
        expect(error).to_contain_text("line 3")
        expect(page.locator("#f-template_html .excerpt")).to_contain_text("{{ campaign.name }")
        expect(page.get_by_label("HTML template")).to_have_attribute("aria-invalid", "true")
        shot("03-template-error")

        # Fix it and preview for customer c1.
        html = page.get_by_label("HTML template").input_value().replace("{{ campaign.name }<", "{{ campaign.name }}<")
        page.get_by_label("HTML template").fill(html)
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#preview-result")).to_contain_text("Ann1, 30% off")
        frame = page.locator("iframe.email-frame")
        assert frame.get_attribute("sandbox") == ""
        expect(page.frame_locator("iframe.email-frame").locator("h1")).to_have_text("Hello Ann1")
        expect(page.locator("#preview-result")).to_contain_text("Why")
        shot("04-preview")

        # Launch: the worker plans it; the page refreshes itself until it is scheduled.
        page.get_by_role("button", name="Launch campaign").click()
        expect(page.locator("h1")).to_contain_text("Winter sale")
        page.wait_for_selector("h1 .badge-scheduled, h1 .badge-sending, h1 .badge-sent", timeout=90_000)
        expect(page.locator("svg.hour-chart")).to_be_visible()
        assert page.locator("svg.hour-chart rect.bar").count() > 0
        assert page.locator("svg.chart").count() == 3
        shot("05-campaign-launched")

        # A campaign with engagement: funnel, arms, uplift with its interval, machine opens and bot clicks apart.
        page.goto(f"{server}/campaigns/{report_id}")
        expect(page.locator("svg.funnel-chart")).to_be_visible()
        expect(page.get_by_text("Machine opens (not counted)")).to_be_visible()
        shot("06-campaign-report")
        page.goto(server + "/campaigns")
        expect(page.locator("table.list tbody tr")).to_have_count(2)
        shot("07-campaigns-list")

        page.goto(server + "/customers?external_id=c3")
        expect(page.locator("svg.hour-chart")).to_be_visible()
        expect(page.get_by_text("Best hour", exact=True)).to_be_visible()
        shot("08-customer")

        _seed_model_rows(ws_id)
        page.goto(server + "/models")
        expect(page.locator("pre.sim-table")).to_contain_text("oracle")
        shot("09-models")

        page.goto(server + "/settings")
        expect(page.locator("#webhook-url")).to_have_value(f"{server}/v1/webhooks/outbox/{ws_id}")
        page.get_by_role("button", name="Create a new API key").click()
        expect(page.locator("#new-key")).to_have_value(re.compile(r"^sw_"))
        shot("10-settings")

        # Phone width: one column, nothing cut off.
        phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                    storage_state=ctx.storage_state())
        mpage = phone.new_page()
        for path, name in ((f"/campaigns/{report_id}", "11-phone-campaign"), ("/campaigns/new", "12-phone-new")):
            mpage.goto(server + path)
            width = mpage.evaluate("document.documentElement.scrollWidth")
            assert width <= 392, f"{path} is {width}px wide on a phone"
            mpage.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        phone.close()

        # Sign out.
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(server + "/signin")
        page.goto(server + "/campaigns")
        expect(page).to_have_url(server + "/signin?next=%2Fcampaigns")
        browser.close()

    assert not problems, problems  # no CSP violation, no script error
    if os.environ.get("SENDWISE_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        for png in sorted(SHOTS.glob("*.png")):
            shutil.copy2(png, DOCS_SHOTS / png.name)
