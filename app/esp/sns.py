"""Amazon SNS message signatures (v1 SHA1withRSA, v2 SHA256withRSA) and signing-certificate fetching."""

from __future__ import annotations

import base64
import binascii
import re
import threading
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from app.esp.base import check_fresh, from_iso, malformed, unauthorized
from app.esp.events import WebhookError, WebhookSettings

# sns.<region>.amazonaws.com, and the China partition's .com.cn; nothing before or after.
SNS_HOST = re.compile(r"sns\.[a-z]{2}(?:-[a-z]+)+-\d\.amazonaws\.com(?:\.cn)?", re.ASCII)
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
SIGNATURE_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}

_CERT_CACHE: dict[str, rsa.RSAPublicKey] = {}
_CERT_CACHE_MAX = 32
_CERT_LOCK = threading.Lock()


def is_sns_url(url: str, *, pem: bool = False) -> bool:
    """True for an https URL on an SNS host (exact host match; no userinfo or odd port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme != "https" or parts.username or parts.password or port not in (None, 443):
        return False
    if not SNS_HOST.fullmatch(parts.hostname or ""):
        return False
    return parts.path.endswith(".pem") if pem else True


def string_to_sign(message: dict[str, Any]) -> bytes:
    """The canonical "Name\\nValue\\n" string SNS signs; the field list depends on the Type."""
    fields = NOTIFICATION_FIELDS if message.get("Type") == "Notification" else CONFIRMATION_FIELDS
    out: list[str] = []
    for name in fields:
        value = message.get(name)
        if value is None and name == "Subject":
            continue  # Subject is signed only when present
        if not isinstance(value, str):
            raise unauthorized(f"SNS message lacks {name}")
        out.append(f"{name}\n{value}\n")
    return "".join(out).encode("utf-8", "surrogatepass")


def default_fetch_cert(url: str) -> bytes:
    """Download a certificate over HTTPS with the stdlib (the URL is checked before this is called)."""
    request = urllib.request.Request(url, headers={"User-Agent": "sendwise"})  # noqa: S310 - https SNS host only
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - https SNS host only
        data: bytes = response.read(64 * 1024)
        return data


def _public_key(url: str, settings: WebhookSettings) -> rsa.RSAPublicKey:
    with _CERT_LOCK:
        cached = _CERT_CACHE.get(url)
    if cached is not None:
        return cached
    fetch = settings.fetch_cert or default_fetch_cert
    try:
        cert = x509.load_pem_x509_certificate(fetch(url))
    except WebhookError:
        raise
    except Exception as exc:  # any download or parse failure means "cannot verify"
        raise unauthorized("cannot load the SNS signing certificate") from exc
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise unauthorized("SNS signing certificate is not RSA")
    with _CERT_LOCK:
        if len(_CERT_CACHE) >= _CERT_CACHE_MAX:
            _CERT_CACHE.pop(next(iter(_CERT_CACHE)))
        _CERT_CACHE[url] = key
    return key


def clear_cert_cache() -> None:
    """Forget cached signing certificates (tests; certificate rotation is by URL anyway)."""
    with _CERT_LOCK:
        _CERT_CACHE.clear()


def verify_message(message: Any, settings: WebhookSettings, now: float | None = None) -> None:
    """Verify an SNS message's signature, certificate URL and 5-minute timestamp; 401 if any fails.

    SNS keeps a message's original Timestamp on redelivery, so retries older than the tolerance
    are refused too: older than `WEBHOOK_TOLERANCE_SECONDS` (5 minutes by default) → 401.
    """
    if not isinstance(message, dict):
        raise malformed("SNS message is not an object")
    version = message.get("SignatureVersion")
    hash_factory = SIGNATURE_HASHES.get(version) if isinstance(version, str) else None
    cert_url = message.get("SigningCertURL") or message.get("SigningCertUrl")
    signature = message.get("Signature")
    if hash_factory is None or not isinstance(cert_url, str) or not isinstance(signature, str):
        raise unauthorized("SNS message lacks a supported signature")
    if not is_sns_url(cert_url, pem=True):
        raise unauthorized("SNS signing certificate is not on an SNS host")
    try:
        sent_at = from_iso(message.get("Timestamp")).timestamp()
    except WebhookError as exc:
        raise unauthorized("SNS Timestamp is not ISO 8601") from exc
    check_fresh(sent_at, settings.tolerance_seconds, now)
    canonical = string_to_sign(message)
    key = _public_key(cert_url, settings)
    try:
        raw_signature = base64.b64decode(signature, validate=True)
        key.verify(raw_signature, canonical, padding.PKCS1v15(), hash_factory())
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise unauthorized("bad SNS signature") from exc
