"""Per-API-key request rate limits, shared by every process through the cache.

A fixed one-minute window per key: `cache.add` creates the counter with the
window's expiry, `cache.incr` is atomic in Redis, so concurrent workers on
several machines count into one number. Coarser than a sliding window, but
one round trip per request and exact at the window boundary that
X-RateLimit-Reset announces.

While Redis does not answer, the cache itself falls back to this process's
memory (shopboard/cache.py): the same counting, per process, never a 500.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RateLimit:
    limit: int
    remaining: int
    reset_at: int  # Unix time the window ends

    @property
    def exceeded(self) -> bool:
        return self.remaining < 0

    @property
    def retry_after(self) -> int:
        return max(1, self.reset_at - int(time.time()))

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": str(self.reset_at),
        }


def rate_limit_hit(*, api_key_id: int, limit: int | None = None, now: float | None = None) -> RateLimit:
    """Count one request of a key and say whether it is over its limit."""
    limit = limit or settings.API_RATE_LIMIT_PER_MINUTE
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    reset_at = (window + 1) * WINDOW_SECONDS
    cache_key = f"ratelimit:{api_key_id}:{window}"
    # +5 s so a counter outlives its window even with a little clock skew.
    cache.add(cache_key, 0, timeout=reset_at - int(now) + 5)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # evicted between add and incr: start again
        cache.add(cache_key, 1, timeout=reset_at - int(now) + 5)
        count = 1
    return RateLimit(limit=limit, remaining=limit - count, reset_at=reset_at)
