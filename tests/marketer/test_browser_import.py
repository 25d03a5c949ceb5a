"""In headless Chromium: upload a Mailchimp audience export through the dashboard with the mapping step,
import history with naive times twice (counts unchanged), find a customer by name and build a segment.
Screenshots go to tests/artifacts/screenshots/ (copied to tests/screenshots/ with SENDWISE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import shutil

from sqlmodel import select

from app.core.db import session_scope
from app.models import Customer, Send
from tests.dashboard.helpers import make_workspace
from tests.dashboard.test_browser import ARGS, CHROMIUM, DOCS_SHOTS, SHOTS, _ensure_chromium, server  # noqa: F401
from tests.marketer.test_imports import MAILCHIMP

HISTORY = ("Email Address;Send Time;Open Time;Subject\n"
           "ada@example.com;2026-11-02 12:00:00;2026-11-02 12:40:00;Autumn picks\n"
           "ada@example.com;2026-11-09 12:00:00;;New arrivals\n"
           "john.smith@example.com;2026-11-02 12:00:00;2026-11-03 08:10:00;Autumn picks\n")
NAMES = ("13-import-mapping", "14-import-done", "15-history-twice", "16-customer-search", "17-segment")


def _sends(ws: str) -> int:
    with session_scope() as s:
        return len(s.exec(select(Send).where(Send.workspace_id == ws)).all())


def test_upload_map_history_twice_search_and_segment(server, tmp_path):  # noqa: F811
    _ensure_chromium()
    from playwright.sync_api import expect, sync_playwright

    ws, key = make_workspace(3)
    audience = tmp_path / "members_export.csv"
    audience.write_bytes(MAILCHIMP.encode())
    hist = tmp_path / "history.csv"
    hist.write_bytes(HISTORY.encode("cp1252"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

        def shot(name: str) -> None:
            page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

        page.goto(server + "/customers/import")
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(server + "/customers/import")

        # Upload: the export is recognised, the mapping is shown and editable, the first rows previewed.
        page.get_by_label("Customer CSV").set_input_files(str(audience))
        page.get_by_role("button", name="Upload and match columns").click()
        expect(page.locator("#recognised")).to_contain_text("Mailchimp")
        expect(page.get_by_label("Email Address", exact=True)).to_have_value("email")
        expect(page.get_by_label("TIMEZONE", exact=True)).to_have_value("timezone")
        expect(page.locator("#import-preview")).to_contain_text("first_name=Ada")
        page.get_by_label("MEMBER_RATING", exact=True).select_option("skip")
        shot(NAMES[0])
        page.get_by_role("button", name="Import customers").click()
        expect(page.locator("#import-result")).to_contain_text("2 customers imported")
        shot(NAMES[1])
        with session_scope() as s:
            ada = s.exec(select(Customer).where(Customer.workspace_id == ws, Customer.email == "ada@example.com")).one()
            assert ada.timezone == "Europe/London" and ada.attributes["last_name"] == "Lovelace"
            assert "MEMBER_RATING" not in ada.attributes

        # History with naive times (semicolons, Latin-1), read in New York time, imported twice.
        for attempt in (1, 2):
            page.get_by_label("History CSV").set_input_files(str(hist))
            page.get_by_label("Time zone of times without an offset").fill("America/New_York")
            page.get_by_role("button", name="Import history").click()
            expected = "3 sends imported, 0 already" if attempt == 1 else "0 sends imported, 3 already"
            expect(page.locator("#history-result")).to_contain_text(expected)
            expect(page.locator("#history-result")).to_contain_text("America/New_York")
            assert _sends(ws) == 3
        shot(NAMES[2])

        # Find a customer by name, open them.
        page.get_by_role("link", name="Customers", exact=True).click()
        page.get_by_label("Search", exact=True).fill("lovelace")
        page.get_by_role("button", name="Search", exact=True).click()
        expect(page.locator("#customer-list tbody tr")).to_have_count(1)
        expect(page.locator("#customer-list")).to_contain_text("Ada Lovelace")
        shot(NAMES[3])
        page.get_by_role("link", name="ada@example.com").click()
        expect(page.get_by_text("Best hour", exact=True)).to_be_visible()

        # Build a segment: opened in the last 10 years, first name Ada.
        page.get_by_role("link", name="Segments", exact=True).click()
        page.get_by_label("Name").fill("Ada's circle")
        page.get_by_label("Attribute 1").fill("first_name")
        page.get_by_label("Condition 1").select_option("eq")
        page.get_by_label("Value 1").fill("Ada")
        page.get_by_label("Engagement").select_option("opened")
        page.get_by_label("In the last (days)").fill("3650")
        page.get_by_role("button", name="Save segment").click()
        expect(page.locator("#segment-created")).to_contain_text("1 customers now")
        expect(page.locator("#segment-list")).to_contain_text("first_name is Ada; opened in the last 3650 days")
        shot(NAMES[4])
        browser.close()
    assert not problems, problems
    if os.environ.get("SENDWISE_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        for name in NAMES:
            shutil.copy2(SHOTS / f"{name}.png", DOCS_SHOTS / f"{name}.png")
