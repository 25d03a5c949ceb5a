"""One registry for both directions: every provider receives webhooks; the HTTP ones also send."""

import pytest

from app.esp import PROVIDERS, WebhookError, check_webhook, esp_for, sending
from app.esp.outgoing import OutgoingEmail, SenderConfig


def test_registry_names_and_directions():
    assert {name for name, esp in PROVIDERS.items() if esp.name == name} == set(PROVIDERS)
    assert {name for name, esp in PROVIDERS.items() if esp.sender is not None} == {
        "sendgrid", "mailgun", "postmark", "ses"}
    with pytest.raises(WebhookError) as err:
        esp_for("nope")
    assert err.value.status_code == 404


def test_the_outbox_and_unknown_names_send_nothing_over_http():
    email = OutgoingEmail(message_id="m" * 32, to_email="a@example.com", to_name=None, subject="s", html="<p>h</p>",
                          text=None, headers={})
    for provider in ("outbox", "nope"):
        cfg = SenderConfig(provider=provider, api_key=None, base_url=None, domain=None, from_email="f@example.com",
                           from_name=None)
        with pytest.raises(ValueError, match="not an HTTP ESP"):
            sending.build_requests(cfg, [email])


def test_every_provider_counts_what_it_parses():
    # A body each provider refuses the same way whichever entry point reads it.
    for provider in PROVIDERS:
        with pytest.raises(WebhookError) as err:
            check_webhook(provider, b"not json")
        assert err.value.status_code == 400
