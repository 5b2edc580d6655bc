"""Endpoint secrets: made, shown once, stored encrypted (SPEC §9).

A secret is `whsec_` + base64 of 32 random bytes (Standard Webhooks). The
database keeps it encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from
`cryptography`) under a key derived from WEBHOOKS_SECRET_KEY (falling back to
SECRET_KEY): a database dump alone cannot sign a message, while the worker,
which has the environment, can. Hashing (as for API keys) is not possible:
signing needs the secret itself. docs/webhooks.md says why and how to rotate
the key.
"""

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


class SecretUnreadable(Exception):
    """The stored secret was encrypted under another key."""


def secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    """The HMAC key: the base64 after `whsec_`, decoded."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def _fernet() -> Fernet:
    # Fernet wants 32 url-safe base64 bytes; any configured text becomes one
    # with a domain-separated SHA-256 (the key material is already secret).
    material = hashlib.sha256(b"shopboard.webhooks.secrets:" + settings.WEBHOOKS_SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(material))


def secret_encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode("ascii")).decode("ascii")


def secret_decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise SecretUnreadable(
            "The endpoint's secret cannot be decrypted with WEBHOOKS_SECRET_KEY; rotate the secret."
        ) from None
