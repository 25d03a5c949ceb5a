"""The one registry of ESPs, for both directions: provider name → `Esp`."""

from __future__ import annotations

from app.esp import mailgun, outbox, postmark, sendgrid, ses
from app.esp.adapter import Esp
from app.esp.events import WebhookError

PROVIDERS: dict[str, Esp] = {
    "sendgrid": Esp("sendgrid", webhooks=sendgrid, sender=sendgrid),
    "mailgun": Esp("mailgun", webhooks=mailgun, sender=mailgun),
    "postmark": Esp("postmark", webhooks=postmark, sender=postmark),
    "ses": Esp("ses", webhooks=ses, sender=ses),
    "outbox": Esp("outbox", webhooks=outbox, sender=None),
}


def esp_for(provider: str) -> Esp:
    """The provider's registration, or WebhookError(404) for a name we do not know."""
    esp = PROVIDERS.get(provider)
    if esp is None:
        raise WebhookError(404, f"unknown provider {provider!r}")
    return esp
