"""The cache: Redis, shared by every process, or this process's memory while Redis does not answer.

What the cache holds can be lost or kept per process for a while without
breaking a promise: the per-key rate-limit counters (integrations/ratelimit.py)
and the shared board fragment (repairs/views.py). So a Redis that is down or
frozen must not turn requests into 500s or stall them: each call is bounded
by short socket timeouts (settings: REDIS_SOCKET_TIMEOUT), and a call that
fails switches this process to an in-memory cache for RETRY_SECONDS, after
which Redis is tried again. Meanwhile rate limits count per process (a key
gets its limit from each web process rather than once: looser, never
absent) and each process renders its own board fragments.

The switch is logged once each way ("unreachable", "reachable again"), not
per request. Health (integrations/api/health.py) asks Redis itself, through
`shared_store_reachable`, never the fallback.
"""

import logging
import threading
import time
from typing import Any

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# How long a process keeps to its own memory after Redis failed to answer.
RETRY_SECONDS = 5.0
_FALLBACK_MAX_ENTRIES = 10_000


class _Outage:
    """Per process and per Redis location: is Redis being skipped, and until when."""

    def __init__(self):
        self.lock = threading.Lock()
        self.until = 0.0  # time.monotonic(); 0 while Redis answers

    def skipping(self) -> bool:
        return time.monotonic() < self.until


_outages: dict[str, _Outage] = {}
_outages_lock = threading.Lock()


def _outage_for(location: str) -> _Outage:
    with _outages_lock:
        return _outages.setdefault(location, _Outage())


class FallbackRedisCache(RedisCache):
    """RedisCache that falls back to a per-process LocMemCache while Redis fails."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._location = server if isinstance(server, str) else ",".join(server)
        self._outage = _outage_for(self._location)
        # LocMemCache instances with one name share their storage: every
        # thread's cache object of this process sees the same fallback.
        self._fallback = LocMemCache(
            f"fallback:{self._location}",
            {"TIMEOUT": params.get("TIMEOUT", 300), "OPTIONS": {"MAX_ENTRIES": _FALLBACK_MAX_ENTRIES}},
        )

    def _call(self, name: str, *args, **kwargs) -> Any:
        if not self._outage.skipping():
            try:
                result = getattr(super(), name)(*args, **kwargs)
            except RedisError as exc:
                self._failed(exc)
            else:
                self._answered()
                return result
        return getattr(self._fallback, name)(*args, **kwargs)

    def _failed(self, exc: RedisError) -> None:
        with self._outage.lock:
            first = self._outage.until == 0.0
            self._outage.until = time.monotonic() + RETRY_SECONDS
        if first:
            logger.warning(
                "Cache: Redis unreachable (%s: %s); this process uses its own memory, rate limits count "
                "per process, until Redis answers again (retried every %.0f s)",
                type(exc).__name__, exc, RETRY_SECONDS,
            )  # fmt: skip

    def _answered(self) -> None:
        if self._outage.until:
            with self._outage.lock:
                self._outage.until = 0.0
            logger.info("Cache: Redis reachable again; rate limits are shared again")

    def shared_store_reachable(self) -> bool:
        """Whether Redis itself answers a PING now (within the socket timeout)."""
        try:
            return bool(self._cache.get_client(write=True).ping())
        except RedisError:
            return False

    def add(self, *args, **kwargs):
        return self._call("add", *args, **kwargs)

    def get(self, *args, **kwargs):
        return self._call("get", *args, **kwargs)

    def set(self, *args, **kwargs):
        return self._call("set", *args, **kwargs)

    def touch(self, *args, **kwargs):
        return self._call("touch", *args, **kwargs)

    def delete(self, *args, **kwargs):
        return self._call("delete", *args, **kwargs)

    def get_many(self, *args, **kwargs):
        return self._call("get_many", *args, **kwargs)

    def has_key(self, *args, **kwargs):
        return self._call("has_key", *args, **kwargs)

    def incr(self, *args, **kwargs):
        return self._call("incr", *args, **kwargs)

    def set_many(self, *args, **kwargs):
        return self._call("set_many", *args, **kwargs)

    def delete_many(self, *args, **kwargs):
        return self._call("delete_many", *args, **kwargs)

    def clear(self):
        return self._call("clear")
