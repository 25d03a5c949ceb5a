"""AWS Signature Version 4 request signing with hashlib/hmac (no SDK needed for one endpoint)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The derived key: HMAC chain over date, region, service and "aws4_request"."""
    key = _hmac(("AWS4" + secret_key).encode("utf-8"), date)
    return _hmac(_hmac(_hmac(key, region), service), "aws4_request")


def _canonical_query(query: str) -> str:
    pairs = []
    for part in query.split("&") if query else []:
        name, _, value = part.partition("=")
        pairs.append((quote(name, safe="-_.~"), quote(value, safe="-_.~")))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def sign(method: str, url: str, headers: dict[str, str], body: bytes, *, access_key: str,
         secret_key: str, region: str, service: str, amz_date: str | None = None,
         session_token: str | None = None) -> dict[str, str]:
    """Return `headers` plus Host, X-Amz-Date (and token) and the SigV4 Authorization header.

    Every header passed in is signed. `amz_date` ("YYYYMMDDTHHMMSSZ") defaults to now; tests pin it.
    """
    parts = urlsplit(url)
    stamp = amz_date or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = {k: v for k, v in headers.items() if k.lower() not in {"host", "x-amz-date", "authorization"}}
    out["Host"] = parts.netloc
    out["X-Amz-Date"] = stamp
    if session_token:
        out["X-Amz-Security-Token"] = session_token
    canonical_headers = {k.lower(): " ".join(v.strip().split()) for k, v in out.items()}
    signed = ";".join(sorted(canonical_headers))
    canonical_request = "\n".join([
        method.upper(),
        quote(parts.path or "/", safe="/-_.~"),
        _canonical_query(parts.query),
        "".join(f"{k}:{canonical_headers[k]}\n" for k in sorted(canonical_headers)),
        signed,
        hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [ALGORITHM, stamp, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()])
    signature = hmac.new(signing_key(secret_key, stamp[:8], region, service),
                         string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    out["Authorization"] = (f"{ALGORITHM} Credential={access_key}/{scope}, "
                            f"SignedHeaders={signed}, Signature={signature}")
    return out
