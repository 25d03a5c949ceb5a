"""API keys, secret encryption at rest and signed tokens."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.config import get_settings

API_KEY_PREFIX = "sw_"


def new_api_key() -> str:
    """A fresh high-entropy API key; only its hash is stored."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """SHA-256 of a key: keys are random, so a fast hash is enough and allows indexed lookup."""
    return hashlib.sha256(key.encode()).hexdigest()


def derive_key(purpose: bytes, secret: str | None = None) -> bytes:
    secret = secret if secret is not None else get_settings().SECRET_KEY
    return _derive(purpose, secret)


@functools.lru_cache(maxsize=64)
def _derive(purpose: bytes, secret: str) -> bytes:
    # Cached by (purpose, secret): every unsubscribe link, decrypted ESP secret and erasure hash derives
    # a key, and HKDF costs more than the HMAC it keys. A changed SECRET_KEY is a different cache entry.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"sendwise", info=purpose).derive(secret.encode())


def _fernet() -> Fernet:
    return _fernet_for(derive_key(b"esp-secrets"))


@functools.lru_cache(maxsize=8)
def _fernet_for(key: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(value: str | None) -> str | None:
    """Encrypt a stored ESP secret with a key derived from SECRET_KEY."""
    if value is None:
        return None
    return _fernet().encrypt(value.encode()).decode()


def decrypt_secret(token: str | None) -> str | None:
    """Decrypt a stored secret; None if absent or not decryptable with this SECRET_KEY."""
    if token is None:
        return None
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def mask(value: str | None) -> str | None:
    """Show only the last four characters of a secret."""
    if not value:
        return None
    return "****" + value[-4:] if len(value) > 8 else "****"


def sign_token(payload: str, purpose: bytes = b"unsubscribe") -> str:
    """`payload.signature`, URL-safe, signed with a key derived from SECRET_KEY."""
    mac = hmac.new(derive_key(purpose), payload.encode(), hashlib.sha256).digest()[:16]
    return payload + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def verify_token(token: str, purpose: bytes = b"unsubscribe") -> str | None:
    """The payload of a token signed by `sign_token`, or None if forged."""
    payload, _, _sig = token.rpartition(".")
    if not payload:
        return None
    expected = sign_token(payload, purpose)
    return payload if hmac.compare_digest(expected.encode(), token.encode()) else None


def email_hash(email: str) -> str:
    """A keyed hash of an address: lets erasure block later events without keeping the address."""
    return hmac.new(derive_key(b"erasure"), email.strip().lower().encode(), hashlib.sha256).hexdigest()
