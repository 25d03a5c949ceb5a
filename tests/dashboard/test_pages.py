"""The dashboard's pages through the real app: sign-in, CSRF, every page with data, errors at their fields."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlmodel import select

from app.core.config import get_settings
from app.core.db import session_scope
from app.models import ApiKey, Campaign, ModelVersion
from app.models.base import utcnow
from app.web import campaign_views
from app.web.campaign_form import CampaignForm, parse
from tests.dashboard.helpers import add_engagement, csrf_of, make_workspace, planned_campaign, sign_in

PAGES = ["/", "/campaigns", "/campaigns/new", "/customers", "/models", "/settings", "/campaigns/abc"]


def _form(token: str, **over: str | list[str]) -> dict[str, str | list[str]]:
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:00")
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=26)).strftime("%Y-%m-%dT%H:00")
    data: dict[str, str | list[str]] = {
        "csrf_token": token, "name": "Spring", "subject_variants": "Hello {{ customer.attributes.first_name }}\nNew in",
        "template_html": "<h1>Hi</h1>\n<p>{{ content }}</p>\n<a href=\"{{ unsubscribe_url }}\">Unsubscribe</a>\n",
        "template_text": "{{ content }}", "block_name": ["outdoor", "fashion", ""],
        "block_html": ["<p>Tents</p>", "<p>Coats</p>", ""], "audience_mode": "all", "audience_ids": "",
        "audience_where": "", "window_start": start, "window_end": end, "window_tz": "UTC", "strategy": "optimal",
        "fixed_local_hour": "", "quiet_start": "21", "quiet_end": "8", "holdout_fraction": "0.1",
        "exploration": "0.05", "frequency_cap_hours": "16", "preview_external_id": "c1", "action": "preview",
    }
    data.update(over)
    return data


@pytest.fixture()
def shop() -> tuple[str, str]:
    return make_workspace()


# --- sign-in, session cookie, CSRF --------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_to_sign_in_when_signed_out(client, path):
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/signin?next=")


def test_bad_key_shows_an_error(client, shop):
    r = client.get("/signin")
    assert r.status_code == 200 and 'type="password"' in r.text and '<label for="api_key">' in r.text
    r = client.post("/signin", data={"csrf_token": csrf_of(r.text), "api_key": "sw_wrong", "next": "/"})
    assert r.status_code == 401
    assert "not valid" in r.text and 'aria-invalid="true"' in r.text
    assert client.get("/campaigns", follow_redirects=False).status_code == 303


def test_good_key_sets_an_httponly_lax_cookie_without_the_key(client, shop):
    _ws, key = shop
    r = client.get("/signin")
    r = client.post("/signin", data={"csrf_token": csrf_of(r.text), "api_key": key, "next": "/models"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/models"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("sendwise_session=")
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Path=/" in cookie
    assert "Secure" not in cookie  # PUBLIC_BASE_URL is http in tests
    assert key not in cookie
    assert client.get("/models").status_code == 200


def test_cookie_is_secure_when_served_over_https(client, shop, monkeypatch):
    monkeypatch.setattr(get_settings(), "PUBLIC_BASE_URL", "https://mail.example.com")
    r = client.get("/signin")
    assert "Secure" in r.headers["set-cookie"]


def test_next_never_leaves_the_site(client, shop):
    r = client.get("/signin")
    r = client.post("/signin", data={"csrf_token": csrf_of(r.text), "api_key": shop[1], "next": "//evil.example/x"},
                    follow_redirects=False)
    assert r.headers["location"] == "/"


def test_forged_cookie_is_ignored(client, shop):
    client.cookies.set("sendwise_session", "eyJrIjoiYWJjIiwiYyI6Inh5eiJ9.AAAA.forged")
    assert client.get("/campaigns", follow_redirects=False).status_code == 303


def test_post_without_or_with_a_wrong_csrf_token_is_403(client, shop):
    token = sign_in(client, shop[1])
    for path in ("/campaigns/new", "/settings/api-keys", "/settings/esp", "/signout"):
        assert client.post(path, data={"name": "x"}).status_code == 403, path
        assert client.post(path, data={"csrf_token": token[:-2] + "xx"}).status_code == 403, path
    assert client.post("/signin", data={"api_key": shop[1]}).status_code == 403
    with session_scope() as s:
        assert s.exec(select(ApiKey).where(ApiKey.workspace_id == shop[0])).all().__len__() == 1


def test_sign_out_ends_the_session(client, shop):
    token = sign_in(client, shop[1])
    r = client.post("/signout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert client.get("/campaigns", follow_redirects=False).status_code == 303


def test_revoking_the_key_ends_its_sessions(client, shop):
    sign_in(client, shop[1])
    with session_scope() as s:
        row = s.exec(select(ApiKey).where(ApiKey.workspace_id == shop[0])).one()
        row.revoked_at = utcnow()
        s.add(row)
        s.commit()
    assert client.get("/campaigns", follow_redirects=False).status_code == 303


# --- pages with data ----------------------------------------------------------------------------------------


def test_campaign_pages_show_distribution_funnel_arms_and_bots_apart(client, shop):
    ws_id, key = shop
    camp_id = planned_campaign(ws_id)
    made = add_engagement(ws_id, camp_id)
    sign_in(client, key)
    listing = client.get("/campaigns")
    assert listing.status_code == 200 and "Winter sale" in listing.text and f"/campaigns/{camp_id}" in listing.text
    r = client.get(f"/campaigns/{camp_id}")
    assert r.status_code == 200
    html = r.text
    assert html.count("<svg") == 3  # send-time distribution, funnel, uplift interval
    assert "Emails per local hour of the recipient" in html and "Delivery funnel" in html
    assert re.search(r"Machine opens \(not counted\)</span><span class=\"stat-value\">" + str(made["machine_opens"]),
                     html)
    assert re.search(r"Bot clicks \(not counted\)</span><span class=\"stat-value\">" + str(made["bot_clicks"]), html)
    assert "95% CI" in html and "holdout" in html
    assert 'http-equiv="refresh"' in html  # still scheduled/sending: the page follows progress by itself
    assert "<progress" in html


def test_send_time_distribution_counts_local_hours(shop):
    ws_id, _key = shop
    camp_id = planned_campaign(ws_id, local_hour=9)
    with session_scope() as s:
        camp = s.get(Campaign, camp_id)
        sent, pending = campaign_views.local_hour_counts(s, camp, "Europe/Berlin")
    assert sum(sent) == 0 and pending[9] == 30 and sum(pending) == 30  # Kolkata's half-hour offset included


def test_cancel_from_the_campaign_page(client, shop):
    camp_id = planned_campaign(shop[0])
    token = sign_in(client, shop[1])
    r = client.post(f"/campaigns/{camp_id}/cancel", data={"csrf_token": token})
    assert r.status_code == 200 and "badge-cancelled" in r.text and 'http-equiv="refresh"' not in r.text
    r = client.post(f"/campaigns/{camp_id}/cancel", data={"csrf_token": token})
    assert r.status_code == 409 and "cannot be cancelled" in r.text


def test_another_workspaces_campaign_is_404(client, shop):
    other_ws, _ = make_workspace(3)
    camp_id = planned_campaign(other_ws)
    token = sign_in(client, shop[1])
    assert client.get(f"/campaigns/{camp_id}").status_code == 404
    assert client.post(f"/campaigns/{camp_id}/cancel", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/campaigns/{camp_id}/launch", data={"csrf_token": token}).status_code == 404
    assert client.get(f"/campaigns/new?copy={camp_id}").text.count("Winter sale") == 0
    assert client.get("/campaigns/" + "x" * 5000).status_code == 404
    with session_scope() as s:
        assert s.get(Campaign, camp_id).status == "scheduled"


def test_new_campaign_form_has_a_labelled_input_for_every_api_field(client, shop):
    sign_in(client, shop[1])
    html = client.get("/campaigns/new").text
    for name in ("name", "subject_variants", "template_html", "template_text", "block_name_1", "block_html_1",
                 "audience_ids", "audience_where", "window_start", "window_end", "window_tz", "strategy",
                 "fixed_local_hour", "quiet_start", "quiet_end", "holdout_fraction", "exploration",
                 "frequency_cap_hours", "preview_external_id"):
        assert f'<label for="{name}"' in html, name
        assert f'id="{name}"' in html, name
    assert 'type="datetime-local"' in html and 'value="all"' in html and 'value="where"' in html


def test_template_error_is_shown_at_its_field_with_the_line(client, shop):
    token = sign_in(client, shop[1])
    bad = "<h1>Hi</h1>\n<p>{{ content }}</p>\n<p>{{ customer.attributes.first_name }</p>\n<p>Bye</p>\n"
    r = client.post("/campaigns/new", data=_form(token, template_html=bad))
    assert r.status_code == 422
    err = re.search(r'<div class="field-error" id="err-template_html">(.*?)</div>', r.text, re.S)
    assert err and "line 3" in err.group(1)
    assert 'id="template_html"' in r.text and 'aria-describedby="err-template_html"' in r.text
    assert re.search(r'<pre class="excerpt"[^>]*><span class="lineno">3</span>&lt;p&gt;\{\{ customer', r.text)
    assert "Spring" in r.text  # the form keeps what was typed
    with session_scope() as s:
        assert s.exec(select(Campaign).where(Campaign.workspace_id == shop[0])).first() is None
    r = client.post("/campaigns/new", data=_form(token, subject_variants="Hello {{ customer.\nok"))
    assert r.status_code == 422 and 'id="err-subject_variants"' in r.text and "line 1" in r.text


def test_preview_then_launch(client, shop):
    token = sign_in(client, shop[1])
    r = client.post("/campaigns/new", data=_form(token))
    assert r.status_code == 200, r.text
    assert 'sandbox=""' in r.text and "srcdoc=" in r.text and "Hello Ann1" in r.text
    assert "Launch campaign" in r.text and "Why" in r.text
    # A preview stores nothing: no draft appears however often the form is previewed.
    assert not re.search(r'name="draft_id" value="([0-9a-f]{32})"', r.text)
    client.post("/campaigns/new", data=_form(token, name="Spring 2"))
    with session_scope() as s:
        assert s.exec(select(Campaign).where(Campaign.workspace_id == shop[0])).all() == []
    # Saving stores one draft; saving again updates it in place.
    r = client.post("/campaigns/new", data=_form(token, name="Spring 1", action="save"))
    draft_id = re.search(r'name="draft_id" value="([0-9a-f]{32})"', r.text).group(1)
    r = client.post("/campaigns/new", data=_form(token, draft_id=draft_id, name="Spring 2", action="save"))
    assert re.search(r'name="draft_id" value="([0-9a-f]{32})"', r.text).group(1) == draft_id
    r = client.post("/campaigns/new", data=_form(token, draft_id=draft_id, name="Spring 2", action="launch"),
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/campaigns/{draft_id}"
    with session_scope() as s:
        rows = s.exec(select(Campaign).where(Campaign.workspace_id == shop[0])).all()
        assert [(c.name, c.status) for c in rows] == [("Spring 2", "planning")]
    page = client.get(r.headers["location"])
    assert page.status_code == 200 and "Planning" in page.text and 'http-equiv="refresh"' in page.text


def test_edit_check_and_delete_a_draft_in_the_dashboard(client, shop):
    token = sign_in(client, shop[1])
    typo = '<p>{{ contnet }}</p><a href="{{ unsubscribe_url }}">U</a>'
    r = client.post("/campaigns/new", data=_form(token, name="Typo", action="check", template_html=typo))
    assert r.status_code == 200 and "contnet" in r.text and "Launch is blocked" in r.text
    draft_id = re.search(r'name="draft_id" value="([0-9a-f]{32})"', r.text).group(1)
    page = client.get(f"/campaigns/{draft_id}")
    assert "contnet" in page.text and 'data-testid="audience-size"' in page.text
    edit = client.get(f"/campaigns/{draft_id}/edit")
    assert edit.status_code == 200 and "{{ contnet }}" in edit.text and draft_id in edit.text
    r = client.post(f"/campaigns/{draft_id}/delete", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/campaigns"
    assert client.get(f"/campaigns/{draft_id}").status_code == 404


def test_preview_for_an_unknown_customer_is_an_error_at_the_field(client, shop):
    token = sign_in(client, shop[1])
    r = client.post("/campaigns/new", data=_form(token, preview_external_id="nobody"))
    assert r.status_code == 200
    assert 'id="err-preview_external_id"' in r.text and "nobody" in r.text


@pytest.mark.parametrize("over, field", [
    ({"holdout_fraction": "lots"}, "holdout_fraction"),
    ({"holdout_fraction": "0.95"}, "holdout_fraction"),
    ({"exploration": "nan"}, "exploration"),
    ({"window_tz": "Mars/Olympus"}, "window"),
    ({"window_start": "yesterday"}, "window"),
    ({"window_end": "2000-01-01T00:00"}, "window"),
    ({"strategy": "fixed_local_hour"}, "fixed_local_hour"),
    ({"strategy": "telepathy"}, "strategy"),
    ({"quiet_start": "21", "quiet_end": ""}, "quiet_hours"),
    ({"quiet_start": "25"}, "quiet_hours"),
    ({"audience_mode": "where", "audience_where": "plan"}, "audience"),
    ({"audience_mode": "ids", "audience_ids": " "}, "audience"),
    ({"name": ""}, "name"),
    ({"subject_variants": "\n \n"}, "subject_variants"),
    ({"block_name": ["", "x"], "block_html": ["<p>a</p>", "<p>b</p>"]}, "content_blocks"),
    ({"block_name": ["x", "x"], "block_html": ["<p>a</p>", "<p>b</p>"]}, "content_blocks"),
    ({"block_name": ["x"], "block_html": ["{% for %}"]}, "content_blocks"),
    ({"template_html": "{{ ''.__class__ }}"}, "template_html"),
    ({"frequency_cap_hours": "-1"}, "frequency_cap_hours"),
])
def test_bad_input_is_reported_at_its_field_never_500(client, shop, over, field):
    token = sign_in(client, shop[1])
    r = client.post("/campaigns/new", data=_form(token, **over))
    assert r.status_code == 422, (over, r.text[:500])
    assert f'id="err-{field}"' in r.text, (over, re.findall(r'id="err-[^"]+"', r.text))


def test_form_parsing_of_audience_values():
    form = CampaignForm(values={"name": "n", "subject_variants": "s", "template_html": "x", "audience_mode": "where",
                                "audience_where": 'plan=gold\nvip=true\nage=30\nzip="01234"', "window_start":
                                "2030-01-01T08:00", "window_end": "2030-01-01T20:00", "window_tz": "Asia/Kolkata"})
    data, errors = parse(form)
    assert errors == {} and data is not None
    assert data.audience.where == {"plan": "gold", "vip": True, "age": 30, "zip": "01234"}
    assert data.window.start == dt.datetime(2030, 1, 1, 2, 30, tzinfo=dt.UTC)


def test_add_block_keeps_the_form(client, shop):
    token = sign_in(client, shop[1])
    r = client.post("/campaigns/new", data=_form(token, action="add_block"))
    assert r.status_code == 200 and 'id="block_name_4"' in r.text and "&lt;p&gt;Coats&lt;/p&gt;" in r.text


def test_customer_page_shows_scores_best_hour_and_events(client, shop):
    ws_id, key = shop
    camp_id = planned_campaign(ws_id)
    add_engagement(ws_id, camp_id)
    sign_in(client, key)
    found = None
    for i in range(30):
        r = client.get(f"/customers?external_id=c{i}")
        assert r.status_code == 200
        if "Apple Mail Privacy Protection" in r.text and "badge-human" in r.text:
            found = r.text
            break
    assert found is not None
    assert "<svg" in found and "Best hour" in found and "badge-source" in found
    assert "badge-machine" in found and "badge-human" in found and "delivered" in found
    r = client.get("/customers?external_id=nobody")
    assert r.status_code == 404 and "No customer with external id" in r.text
    assert client.get("/customers?external_id=" + "z" * 3000).status_code == 404


def test_models_page_lays_out_metrics_and_the_simulation_table(client, shop):
    ws_id, key = shop
    with session_scope() as s:
        s.add(ModelVersion(workspace_id=ws_id, kind="sendtime", version=1, rows_used=12345, metrics={
            "heldout": {"model": {"auc": 0.71, "log_loss": 0.41}, "baseline_window_start": {"auc": 0.5,
                                                                                            "log_loss": 0.52}},
            "customers": 300, "concordance": 0.66}))
        s.add(ModelVersion(workspace_id=ws_id, kind="sendtime", version=2, rows_used=23456, metrics={"auc": 0.72}))
        s.add(ModelVersion(workspace_id=ws_id, kind="simulation", version=1, metrics={
            "table": "policy        open rate\noracle        0.31\nsendwise      0.27\nwindow start  0.21",
            "seeds": [1, 2, 3]}))
        s.commit()
    sign_in(client, key)
    r = client.get("/models")
    assert r.status_code == 200
    assert "Send time" in r.text and "version 2" in r.text and "All versions (2)" in r.text
    assert '<pre class="pre sim-table">' in r.text and "oracle        0.31" in r.text
    assert "1, 2, 3" in r.text


def test_models_page_renders_nested_metrics_as_tables(client, shop):
    ws_id, key = shop
    with session_scope() as s:
        s.add(ModelVersion(workspace_id=ws_id, kind="subject", version=1, metrics={
            "heldout": {"model": {"auc": 0.7123456, "log_loss": 0.4}, "global_rate": {"auc": 0.5, "log_loss": 0.6}},
            "calibration": [{"bin": 1, "predicted": 0.1, "observed": 0.12}]}))
        s.commit()
    sign_in(client, key)
    html = client.get("/models").text
    assert '<table class="matrix">' in html and "0.7123" in html and "global_rate" in html and ">auc<" in html


def test_settings_esp_masked_blank_keeps_secret_and_key_shown_once(client, shop):
    ws_id, key = shop
    token = sign_in(client, key)
    r = client.get("/settings")
    assert r.status_code == 200 and f"/v1/webhooks/outbox/{ws_id}" in r.text and "readonly" in r.text
    r = client.post("/settings/esp", data={"csrf_token": token, "provider": "sendgrid",
                                           "from_email": "news@shop.example", "api_key": "SG.supersecretvalue9876"})
    assert r.status_code == 200 and "ESP connection saved" in r.text
    assert "supersecret" not in r.text and "****9876" in r.text and f"/v1/webhooks/sendgrid/{ws_id}" in r.text
    r = client.post("/settings/esp", data={"csrf_token": token, "provider": "sendgrid", "from_email": "n@shop.example",
                                           "from_name": "Shop", "api_key": ""})
    assert r.status_code == 200 and "****9876" in r.text  # a blank secret keeps the stored one
    r = client.post("/settings/esp", data={"csrf_token": token, "provider": "mailgun", "from_email": "bad"})
    assert r.status_code == 422 and 'id="err-from_email"' in r.text
    r = client.post("/settings/esp", data={"csrf_token": token, "provider": "pigeon", "from_email": "a@b.co"})
    assert r.status_code == 422 and 'id="err-provider"' in r.text
    r = client.post("/settings/api-keys", data={"csrf_token": token})
    new_key = re.search(r'id="new-key" class="code" value="(sw_[^"]+)"', r.text).group(1)
    assert r.headers["cache-control"] == "no-store"
    assert new_key[:10] in client.get("/settings").text and new_key not in client.get("/settings").text
    fresh = type(client)(client.app)
    sign_in(fresh, new_key)
    assert fresh.get("/settings").status_code == 200


def test_pages_send_security_headers_and_serve_their_own_assets(client, shop):
    sign_in(client, shop[1])
    r = client.get("/campaigns")
    assert "default-src 'self'" in r.headers["content-security-policy"] and r.headers["x-frame-options"] == "DENY"
    assert 'href="/assets/dashboard.css"' in r.text and "<main" in r.text and "<nav" in r.text
    css = client.get("/assets/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css") and "@media" in css.text
    assert client.get("/assets/dashboard.js").status_code == 200
    assert client.get("/assets/..%2Fmain.py").status_code == 404
    assert "http://" not in r.text.replace('http-equiv', '').replace("http://www.w3.org", "")


def test_a_failed_planning_job_is_shown(client, shop):
    from app.campaigns import service as campaigns
    from app.models.campaign_schemas import CampaignCreate
    from app.platform import jobs
    from tests.dashboard.helpers import campaign_body

    with session_scope() as s:
        camp = campaigns.create_campaign(s, shop[0], CampaignCreate.model_validate(campaign_body()))
        campaigns.mark_launching(s, shop[0], camp.id)
        job = jobs.create_job(s, shop[0], f"plan_campaign:{camp.id}")
    jobs.mark_failed(job.id, "TypeError: boom")
    sign_in(client, shop[1])
    r = client.get(f"/campaigns/{camp.id}")
    assert r.status_code == 200 and "Planning failed: TypeError: boom" in r.text


def test_names_are_escaped_everywhere(client, shop):
    camp_id = planned_campaign(shop[0], name="<script>alert(1)</script>")
    sign_in(client, shop[1])
    for path in ("/campaigns", f"/campaigns/{camp_id}"):
        html = client.get(path).text
        assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_chart_svg_escapes_and_scales():
    from app.web import charts

    svg = str(charts.funnel([("<b>", 3), ("x", 0)], title="a & b"))
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "a &amp; b" in svg
    bars = str(charts.hour_bars([charts.Series([0] * 23 + [7], "bar", "n")], title="t", desc="d"))
    assert bars.count('class="bar"') == 1 and "23:00 — 7 emails" in bars
    assert charts.nice_step(0) == 1.0 and charts.nice_step(47) == 20


def test_models_page_says_in_plain_words_what_the_model_knows(client, shop):
    ws_id, key = shop
    with session_scope() as s:
        s.add(ModelVersion(workspace_id=ws_id, kind="sendtime", version=1, rows_used=40000, metrics={
            "rows_used": {"sends": 40000, "cox_rows": 9000, "customers": 2000}, "personal_share": 0.845,
            "mean_predicted": 0.188, "observed_rate": 0.184, "test_rows": 3100, "cutoff": 1764547200.0,
            "brier": 0.1301, "baselines": {"window_start": {"brier": 0.1411}},
            "calibration": [{"predicted": 0.1, "observed": 0.11, "count": 1000},
                            {"predicted": 0.3, "observed": 0.28, "count": 1000}],
            "self_validation": {"coverage": 0.94}}))
        s.commit()
    sign_in(client, key)
    html = client.get("/models").text
    assert "2,000 customers; 1,690 of them have a personal best hour" in html
    assert "predicted 18.8% opened within a day, observed 18.4%" in html and "from 2025-12-01" in html
    assert "better than the best simple rule" in html and "calibration-chart" in html
    # The technical part is folded away, dates as dates, and any metric others add still shows.
    assert '<details class="technical">' in html and "self_validation" in html and "0.94" in html
    assert "1764547200" not in html and "2025-12-01 00:00 UTC" in html
