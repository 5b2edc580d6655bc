"""GET /api/v1/health: for load balancers and uptime checks, no key needed.

200 while the database answers, with the state of each dependency, else
503. Redis (cache and broker) being down degrades the service but does not
stop it — the API serves on (rate limits per process, shopboard/cache.py),
moves are saved and their notifications wait in the outbox for the sweep —
so it reads `"status": "degraded"` with a 200: a load balancer must not take
every web process out of rotation for it. Each check is bounded by
REDIS_SOCKET_TIMEOUT, so a frozen Redis cannot stall this answer.
"""

import logging
import os

import redis
from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from ninja import Router

from .problems import ErrorItem, problem_response
from .render import json_response
from .schemas import HealthOut, ProblemOut

logger = logging.getLogger(__name__)

router = Router(tags=["Health"])

OK = "ok"
UNAVAILABLE = "unavailable"
NOT_CHECKED = "not_checked"


def _cache_state() -> str:
    cache = caches["default"]
    reachable = getattr(cache, "shared_store_reachable", None)
    if reachable is None:  # a process-local cache (development) is always there
        return OK
    return OK if reachable() else UNAVAILABLE


def _broker_state() -> str:
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        timeout = settings.REDIS_SOCKET_TIMEOUT
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return OK if client.ping() else UNAVAILABLE
        except redis.RedisError:
            return UNAVAILABLE
        finally:
            client.close()
    if url.startswith("filesystem://"):  # the demo's broker: a folder
        folder = settings.CELERY_BROKER_FOLDER
        return OK if os.access(folder, os.W_OK) else UNAVAILABLE
    return NOT_CHECKED


@router.get("/health", auth=None, response={200: HealthOut, 503: ProblemOut}, summary="Health")
def health_get(request: HttpRequest) -> HttpResponse:
    """200 when the database answers (status "degraded" if the cache or broker does not), else 503."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.exception("Health check: database unreachable")
        return problem_response(
            request, 503, [ErrorItem("database_unavailable", "The database does not answer.")]
        )
    dependencies = {"database": OK, "cache": _cache_state(), "broker": _broker_state()}
    status = "degraded" if UNAVAILABLE in dependencies.values() else "ok"
    return json_response({"status": status, **dependencies})
