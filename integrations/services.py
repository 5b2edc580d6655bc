"""Writes of the integrations app (API keys, ...)."""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import API_KEY_PREFIX_LENGTH, ApiKey, hash_api_key


@transaction.atomic
def api_key_create(*, name: str, shop_ids: list[int]) -> tuple[str, ApiKey]:
    """Create a key for the shops; returns the raw key, which is never stored."""
    raw_key = ApiKey.generate()
    api_key = ApiKey.objects.create(
        name=name,
        prefix=raw_key[3 : 3 + API_KEY_PREFIX_LENGTH],
        hashed_key=hash_api_key(raw_key),
    )
    api_key.shops.set(shop_ids)
    return raw_key, api_key


# last_used_at is for people deciding which keys to revoke: minute precision
# is plenty, and it spares a write on almost every request.
API_KEY_USE_RESOLUTION = timedelta(minutes=1)


def api_key_mark_used(*, api_key: ApiKey, now: datetime | None = None) -> None:
    """Record that a key was used, at most once per API_KEY_USE_RESOLUTION.

    The in-memory check skips the query when the key was used recently; the
    conditional UPDATE makes concurrent requests write at most once.
    """
    now = now or timezone.now()
    threshold = now - API_KEY_USE_RESOLUTION
    if api_key.last_used_at is not None and api_key.last_used_at >= threshold:
        return
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=threshold)
    ).update(last_used_at=now)
    api_key.last_used_at = now
