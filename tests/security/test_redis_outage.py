"""Redis down or frozen (issue 14, defect 3): the keyed API keeps serving with
per-process rate limits, nothing stalls, health says what is missing; back
to shared limits once Redis answers. A private Redis the test stops and
freezes; the suite's shared Redis is never touched."""

import logging
import time

import pytest
import redis

import shopboard.cache
from integrations.models import ApiKey
from tests import factories
from tests.board.conftest import POLL
from tests.redis_server import PrivateRedis

STAGES = "/api/v1/stages"
HEALTH = "/api/v1/health"


@pytest.fixture
def private_redis(tmp_path, settings):
    """The cache and the broker as settings configure them, on a private Redis."""
    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        pytest.skip("the Redis cache is configured by REDIS_URL, as in `make test` and production")
    server = PrivateRedis(tmp_path).start()
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": server.url(0)}}
    settings.CELERY_BROKER_URL = server.url(1)
    yield server
    server.stop()


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_with_redis_down_the_keyed_api_serves_and_health_says_degraded(api, shop, private_redis, caplog):
    assert api.get(STAGES).status_code == 200
    private_redis.stop()
    with caplog.at_level(logging.WARNING, logger="shopboard.cache"):
        answers = [api.get(STAGES) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    # Counted in this process's memory meanwhile: the limit still holds.
    assert [a["X-RateLimit-Remaining"] for a in answers] == ["599", "598", "597", "596", "595"]
    outage_lines = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(outage_lines) == 1  # once per outage, not per request
    health = api.client.get(HEALTH)
    assert health.status_code == 200
    assert health.json() == {
        "status": "degraded",
        "database": "ok",
        "cache": "unavailable",
        "broker": "unavailable",
    }


def test_with_redis_down_a_key_over_its_limit_still_gets_429(api, shop, private_redis):
    ApiKey.objects.update(rate_limit_per_minute=2)
    private_redis.stop()
    assert [api.get(STAGES).status_code for _ in range(3)] == [200, 200, 429]


def test_with_redis_frozen_requests_and_health_answer_within_the_timeouts(api, shop, private_redis):
    assert api.get(STAGES).status_code == 200
    private_redis.freeze()
    try:
        # The first request waits out one socket timeout (0.5 s); the next
        # ones skip Redis for a few seconds (shopboard.cache.RETRY_SECONDS).
        first, first_took = timed(lambda: api.get(STAGES))
        rest = [timed(lambda: api.get(STAGES)) for _ in range(5)]
        health, health_took = timed(lambda: api.client.get(HEALTH))
    finally:
        private_redis.thaw()
    assert first.status_code == 200 and first_took < 3
    assert all(r.status_code == 200 for r, _ in rest)
    assert sum(took for _, took in rest) < 3
    assert health.status_code == 200 and health_took < 3
    assert health.json()["status"] == "degraded"
    assert health.json()["cache"] == "unavailable" and health.json()["broker"] == "unavailable"


def test_limits_are_shared_again_once_redis_answers(api, shop, private_redis, monkeypatch, caplog):
    monkeypatch.setattr(shopboard.cache, "RETRY_SECONDS", 0.3)
    private_redis.freeze()
    try:
        assert api.get(STAGES).status_code == 200  # counted locally
    finally:
        private_redis.thaw()
    time.sleep(0.4)
    with caplog.at_level(logging.INFO, logger="shopboard.cache"):
        assert api.get(STAGES).status_code == 200
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    # The counter lives in Redis again: another process would see it.
    shared = redis.Redis.from_url(private_redis.url(0))
    assert any(b"ratelimit" in key for key in shared.keys("*"))
    assert api.client.get(HEALTH).json() == {"status": "ok", "database": "ok", "cache": "ok", "broker": "ok"}


def test_with_redis_down_the_board_refreshes(client, shop, manager, private_redis):
    factories.make_repair_order(shop=shop, repair_number="R-BOARD")
    client.force_login(manager)
    private_redis.stop()
    # The polled fragment is shared through the cache: rendered per process meanwhile.
    response = client.get("/shops/33/board/", headers=POLL)
    assert response.status_code == 200
    assert "R-BOARD" in response.content.decode()
