"""API keys on requests: `Authorization: Bearer <key>` or `X-API-Key: <key>` (SPEC §2)."""

from django.http import HttpRequest
from ninja.security import APIKeyHeader, HttpBearer

from integrations.models import ApiKey, hash_api_key
from integrations.ratelimit import rate_limit_hit
from integrations.services import api_key_mark_used

from .problems import ApiProblem, ErrorItem

# Generated keys are ~46 characters; anything much longer is not a key and
# is not worth hashing.
_MAX_KEY_LENGTH = 200


def api_key_authenticate(request: HttpRequest, raw_key: str | None) -> ApiKey | None:
    """The live key for a raw key, or None if missing, unknown or revoked.

    Counts the request against the key's rate limit; over it, answers 429
    (the limit is kept on the request for the X-RateLimit-* headers).
    """
    if not raw_key or len(raw_key) > _MAX_KEY_LENGTH:
        return None
    api_key = ApiKey.objects.filter(hashed_key=hash_api_key(raw_key), revoked_at__isnull=True).first()
    if api_key is None:
        return None
    api_key_mark_used(api_key=api_key)
    limit = rate_limit_hit(api_key_id=api_key.id, limit=api_key.rate_limit_per_minute)
    request.rate_limit = limit
    if limit.exceeded:
        raise ApiProblem(
            429,
            [
                ErrorItem(
                    "rate_limited", f"Over {limit.limit} requests a minute; retry in {limit.retry_after} s."
                )
            ],
            headers={"Retry-After": str(limit.retry_after)},
        )
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
        return api_key_authenticate(request, token)


class HeaderKey(APIKeyHeader):
    param_name = "X-API-Key"

    def authenticate(self, request: HttpRequest, key: str | None) -> ApiKey | None:
        return api_key_authenticate(request, key)


api_key_auth = [BearerKey(), HeaderKey()]


def key_shop_ids(request: HttpRequest) -> frozenset[int]:
    """The shops the request's key reaches (one query, cached on the request)."""
    cached = getattr(request, "_key_shop_ids", None)
    if cached is None:
        cached = frozenset(request.auth.shops.values_list("pk", flat=True))
        request._key_shop_ids = cached
    return cached
