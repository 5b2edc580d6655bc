"""Writes of the integrations app (API keys, ...)."""

from django.db import transaction

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
