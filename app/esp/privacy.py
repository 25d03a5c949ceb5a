"""What of an ESP's raw event is kept: everything but the reader's IP address, user agent and precise
location. Classification (machine opens, bot clicks) reads those from the normalized event before the
raw payload is stored, and the stored event keeps only its verdict (`human`, `reason`); a user-agent
family an ESP names (Postmark's `Client.Family`, Mailgun's `client-name`) is kept."""

from __future__ import annotations

from typing import Any

# Keys compared lower-cased without "-" and "_": SendGrid `ip`/`useragent`, Mailgun `client-ip`/`user-agent`
# and `geolocation.city`, SES `ipAddress`/`userAgent`, Postmark `UserAgent` and `Geo.IP`/`City`/`Zip`/`Coords`,
# the outbox's `ip`/`user_agent`.
DROPPED_KEYS = frozenset({"ip", "ipaddress", "clientip", "useragent", "city", "zip", "postalcode", "coords",
                          "latitude", "longitude", "regionisocode", "region"})
MAX_DEPTH = 20


def _dropped(key: str) -> bool:
    return key.replace("-", "").replace("_", "").lower() in DROPPED_KEYS


def scrub(value: Any, depth: int = 0) -> Any:
    """A copy of a raw ESP payload without the keys in DROPPED_KEYS, at any depth."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, dict):
        return {k: scrub(v, depth + 1) for k, v in value.items() if not (isinstance(k, str) and _dropped(k))}
    if isinstance(value, list):
        return [scrub(v, depth + 1) for v in value]
    return value
