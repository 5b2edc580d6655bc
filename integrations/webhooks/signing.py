"""Standard Webhooks signatures (SPEC §9; https://www.standardwebhooks.com).

`webhook-signature` is `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`
keyed with the secret's bytes; during the 24 h after a rotation it carries
one signature per live secret, space-separated, so a receiver holding either
verifies.
"""

import base64
import hashlib
import hmac
from collections.abc import Sequence

from .secrets import secret_bytes

SIGNATURE_VERSION = "v1"


def signature(*, secret: str, webhook_id: str, timestamp: int, body: str) -> str:
    signed = f"{webhook_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signed_headers(*, secrets: Sequence[str], webhook_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret=s, webhook_id=webhook_id, timestamp=timestamp, body=body) for s in secrets
        ),
    }


def signature_verify(
    *, secrets: Sequence[str], webhook_id: str, timestamp: int, body: str, header: str
) -> bool:
    """What a receiver does (the demo receiver uses it): any v1 signature of
    the header matching any of the secrets. Timestamp tolerance is the caller's."""
    expected = {signature(secret=s, webhook_id=webhook_id, timestamp=timestamp, body=body) for s in secrets}
    return any(
        hmac.compare_digest(given.encode(), wanted.encode())
        for given in header.split(" ")
        for wanted in expected
    )
