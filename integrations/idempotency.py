"""Idempotency-Key for the batch API (SPEC §3).

The record is claimed inside the request's own transaction, before any work:
a second request with the same key blocks on the unique index until the
first one commits, then sees its stored answer (replay) or a different body
(`idempotency_key_reused`). If the first request fails with a 5xx its
transaction rolls back, the record with it, and a retry is processed anew.
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import IdempotencyRecord

RETENTION = timedelta(hours=24)


@dataclass(frozen=True)
class Fresh:
    record_id: int


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: bytes


@dataclass(frozen=True)
class Reused:
    pass


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def idempotency_claim(*, api_key_id: int, method: str, key: str, fingerprint: str) -> Fresh | Replay | Reused:
    """Claim `key` for this request. Must run inside the request's transaction."""
    assert transaction.get_connection().in_atomic_block, "claim inside the request's transaction"
    lookup = {"api_key_id": api_key_id, "method": method, "key": key}
    record = IdempotencyRecord.objects.select_for_update().filter(**lookup).first()
    if record is not None and record.created_at < timezone.now() - RETENTION:
        record.delete()
        record = None
    if record is None:
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(**lookup, request_hash=fingerprint)
            return Fresh(record.id)
        except IntegrityError:
            # Another request with this key committed while we looked.
            record = IdempotencyRecord.objects.select_for_update().get(**lookup)
    if record.request_hash != fingerprint:
        return Reused()
    return Replay(record.status_code, bytes(record.response_body))


def idempotency_store(*, record_id: int, status_code: int, body: bytes) -> None:
    IdempotencyRecord.objects.filter(pk=record_id).update(status_code=status_code, response_body=body)


def idempotency_purge(*, now=None) -> int:
    """Delete records past their 24 hours; returns how many."""
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
