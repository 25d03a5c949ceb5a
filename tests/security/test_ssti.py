"""Known server-side template injection payloads against every template field: refused or inert."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.config import get_settings
from tests.integration.helpers import add_customers, campaign_body

PWNED = Path("/tmp/sendwise-ssti-pwned")
# Collected from public SSTI cheat sheets (Jinja2 / Python), plus sandbox-specific escapes.
PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__base__.__subclasses__() }}",
    "{{ config.items() }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ cycler.__init__.__globals__.os.popen('touch /tmp/sendwise-ssti-pwned').read() }}",
    "{{ joiner.__init__.__globals__.os.popen('id').read() }}",
    "{{ namespace.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ request.application.__globals__.__builtins__.__import__('os').popen('id').read() }}",
    "{{ ''|attr('__class__')|attr('__mro__') }}",
    "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ ''['__cla'+'ss__'] }}",
    "{{ (''|attr('_'*2+'class'+'_'*2)) }}",
    "{{ ''|attr(['_','_','class','_','_']|join) }}",
    "{{ customer|attr('__init__') }}",
    "{{ customer.__class__ }}",
    "{{ customer.attributes.__class__.__base__.__subclasses__() }}",
    "{{ campaign.update({'x': 1}) }}",
    "{{ customer.attributes.clear() }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{% set x = ''.__class__ %}{{ x }}",
    "{{ range(10**9)|list }}",
    "{{ 'a' * 10**9 }}",
    "{{ [1] * 10**9 }}",
    "{{ 9**9**9 }}",
    "{{ (10**9) * 'a' }}",
    "{% for i in range(10**6) %}{% for j in range(10**6) %}x{% endfor %}{% endfor %}",
    "{{ get_flashed_messages.__globals__ }}",
    "{{ url_for.__globals__.os.environ }}",
    "{% import 'os' as os %}",
    "{% include '/etc/passwd' %}",
    "{% extends '/etc/passwd' %}",
    "{{ ''.format.__self__ }}",
    "{{ '{0.__class__}'.format('') }}",
    "{{ '%s'|format(customer) }}",
    "{{ customer.email.__len__() }}",
    "{{ dict.mro() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ 7*7 }}",
]
FIELDS = ("subject", "template_html", "template_text", "content_blocks")
# Amplification through filters and str methods (`center`, `format`, `ljust`, `batch`) is not bounded yet:
# see SECURITY.md, "known gaps". Template authors are authenticated members of their own workspace.
LEAKS = ("<class", "subclasses", "<module", "<built-in", "<function", "__globals__", "uid=", "root:x:0",
         "Settings(", "SECRET", "environ", "<bound method")


def _body(field: str, payload: str) -> dict:
    body = campaign_body()
    if field == "subject":
        body["subject_variants"] = [payload]
    elif field == "content_blocks":
        body["content_blocks"] = {"a": payload}
    else:
        body[field] = payload
    return body


@pytest.mark.parametrize("field", FIELDS)
def test_ssti_payloads_are_refused_or_inert(client, auth, field):
    add_customers(client, auth, 1, prefix="t")
    secret = get_settings().SECRET_KEY
    accepted = 0
    for payload in PAYLOADS:
        r = client.post("/v1/campaigns", headers=auth, json=_body(field, payload))
        assert r.status_code in (201, 422), (payload, r.status_code, r.text[:300])
        if r.status_code == 422:
            detail = r.json()["detail"]
            expected = "subject_variants" if field == "subject" else field
            assert expected in str(detail), detail
            continue
        accepted += 1
        cid = r.json()["id"]
        p = client.post(f"/v1/campaigns/{cid}/preview", headers=auth, json={"external_id": "t0"})
        assert p.status_code in (200, 422), (payload, p.status_code, p.text[:300])
        text = p.text
        assert not any(leak in text for leak in LEAKS), (payload, text[:300])
        assert secret not in text
    assert not PWNED.exists()
    assert accepted >= 1  # the harmless {{ 7*7 }} at least


def test_attribute_values_are_data_not_templates(client, auth):
    """A customer attribute holding template syntax is printed, never evaluated (and escaped in HTML)."""
    r = client.post("/v1/customers/batch", headers=auth, json={"customers": [{
        "external_id": "x1", "email": "x1@example.com",
        "attributes": {"first_name": "{{ 7*7 }}<script>alert(1)</script>{% raw %}"}}]})
    assert r.json()["upserted"] == 1
    cid = client.post("/v1/campaigns", headers=auth, json=campaign_body()).json()["id"]
    p = client.post(f"/v1/campaigns/{cid}/preview", headers=auth, json={"external_id": "x1"}).json()
    assert "49" not in p["subject"] and "{{ 7*7 }}" in p["subject"]
    assert "<script>" not in p["html"] and "&lt;script&gt;" in p["html"]


def test_templates_cannot_change_the_data_they_render(client, auth):
    add_customers(client, auth, 1, prefix="m")
    body = campaign_body(subject_variants=["{{ campaign.update({'name': 'pwned'}) }}{{ campaign.name }}"])
    r = client.post("/v1/campaigns", headers=auth, json=body)
    assert r.status_code == 422 and "subject_variants" in str(r.json()["detail"])
