"""Campaign creation: sandboxed templates (syntax errors and injection payloads → 422 with field and line)."""

import pytest

from tests.integration.helpers import campaign_body

SSTI = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ self._TemplateReference__context }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ config.items() }}{{ request.application.__globals__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ customer['__class__'] }}",
    "{{ customer|attr('__class__') }}",
    "{{ namespace.__init__.__globals__ }}",
]


@pytest.mark.parametrize("payload", SSTI)
def test_injection_payloads_are_refused(client, auth, payload):
    r = client.post("/v1/campaigns", headers=auth, json=campaign_body(template_html=f"<p>ok</p>\n{payload}"))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", "template_html"]


def test_syntax_error_names_field_and_line(client, auth):
    r = client.post("/v1/campaigns", headers=auth,
                    json=campaign_body(subject_variants=["fine", "line one\n{{ broken "]))
    assert r.status_code == 422
    d = r.json()["detail"][0]
    assert d["loc"] == ["body", "subject_variants[1]"] and "line 2" in d["msg"]


def test_html_is_autoescaped_and_blocks_render(client, auth):
    client.post("/v1/customers/batch", headers=auth, json={"customers": [
        {"external_id": "p1", "email": "p1@example.com", "attributes": {"first_name": "<b>Eve</b>"}}]})
    r = client.post("/v1/campaigns", headers=auth, json=campaign_body(
        template_html="<p>{{ customer.attributes.first_name }}</p>{{ content }}",
        content_blocks={"outdoor": "<p>Tents for {{ customer.attributes.first_name }}</p>"}))
    assert r.status_code == 201
    p = client.post(f"/v1/campaigns/{r.json()['id']}/preview", headers=auth, json={"external_id": "p1"})
    assert p.status_code == 200, p.text
    html = p.json()["html"]
    assert "&lt;b&gt;Eve&lt;/b&gt;" in html and "<p>Tents for &lt;b&gt;" in html and "<b>Eve</b>" not in html
    assert p.json()["scheduled_at"] and p.json()["reason"]


@pytest.mark.parametrize("bad", [
    {"window": {"start": "2026-12-02T00:00:00Z", "end": "2026-12-01T00:00:00Z"}},
    {"window": {"start": "2026-12-01T00:00:00", "end": "2026-12-02T00:00:00"}},
    {"strategy": "fixed_local_hour"},
    {"audience": {}},
    {"audience": {"all": True, "external_ids": ["a"]}},
    {"subject_variants": []},
    {"holdout_fraction": 1.5},
    {"quiet_hours": {"start": 25, "end": 3}},
])
def test_bad_campaign_fields_are_422(client, auth, bad):
    assert client.post("/v1/campaigns", headers=auth, json=campaign_body(**bad)).status_code == 422


def test_other_workspace_campaign_is_404(client, auth):
    import uuid

    from app.core.db import session_scope
    from app.platform.workspaces import create_workspace

    cid = client.post("/v1/campaigns", headers=auth, json=campaign_body()).json()["id"]
    with session_scope() as s:
        _, key = create_workspace(s, "o-" + uuid.uuid4().hex[:4])
    other = {"Authorization": f"Bearer {key}"}
    for method, path in [("get", ""), ("post", "/launch"), ("post", "/cancel"), ("get", "/messages")]:
        assert getattr(client, method)(f"/v1/campaigns/{cid}{path}", headers=other).status_code == 404
    assert client.post(f"/v1/campaigns/{cid}/preview", headers=other, json={"external_id": "x"}).status_code == 404
