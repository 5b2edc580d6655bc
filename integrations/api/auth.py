"""API keys on requests: `Authorization: Bearer <key>` or `X-API-Key: <key>` (SPEC §2)."""

from django.http import HttpRequest
from ninja.security import APIKeyHeader, HttpBearer

from integrations.models import ApiKey, hash_api_key
from integrations.services import api_key_mark_used

# Generated keys are ~46 characters; anything much longer is not a key and
# is not worth hashing.
_MAX_KEY_LENGTH = 200


def api_key_authenticate(raw_key: str | None) -> ApiKey | None:
    """The live key for a raw key, or None if missing, unknown or revoked."""
    if not raw_key or len(raw_key) > _MAX_KEY_LENGTH:
        return None
    api_key = ApiKey.objects.filter(hashed_key=hash_api_key(raw_key), revoked_at__isnull=True).first()
    if api_key is not None:
        api_key_mark_used(api_key=api_key)
    return api_key


class BearerKey(HttpBearer):
    def __call__(self, request: HttpRequest) -> ApiKey | None:
        # Parsed here rather than by HttpBearer, which logs the whole header
        # (a key) when the scheme is not Bearer and DEBUG is on.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        return api_key_authenticate(token)


class HeaderKey(APIKeyHeader):
    param_name = "X-API-Key"

    def authenticate(self, request: HttpRequest, key: str | None) -> ApiKey | None:
        return api_key_authenticate(key)


api_key_auth = [BearerKey(), HeaderKey()]


def key_shop_ids(request: HttpRequest) -> frozenset[int]:
    """The shops the request's key reaches (one query, cached on the request)."""
    cached = getattr(request, "_key_shop_ids", None)
    if cached is None:
        cached = frozenset(request.auth.shops.values_list("pk", flat=True))
        request._key_shop_ids = cached
    return cached
