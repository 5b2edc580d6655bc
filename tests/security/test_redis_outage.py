"""Redis down or frozen (issue 14, defect 3): the keyed API keeps serving with
per-process rate limits, nothing stalls, health says what is missing; back
to shared limits once Redis answers. A private Redis the test stops and
freezes; the suite's shared Redis is never touched."""

import logging
import os
import time

import pytest
import redis
import requests

import shopboard.cache
from bench.harness import Server
from integrations.models import ApiKey
from tests import factories
from tests.board.conftest import POLL
from tests.servers import PrivateRedis, database_url_for_servers

STAGES = "/api/v1/stages"
HEALTH = "/api/v1/health"


@pytest.fixture
def private_redis(settings):
    """The cache and the broker as settings configure them, on a private Redis."""
    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        pytest.skip("the Redis cache is configured by REDIS_URL, as in `make test` and production")
    server = PrivateRedis().start()
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


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="gunicorn shares the PostgreSQL test database",
)
def test_gunicorn_with_redis_frozen_then_down_answers_and_reports_it():
    """Production-like: gunicorn whose REDIS_URL and broker are a Redis that freezes, then dies."""
    redis_server = PrivateRedis().start()
    key = factories.make_api_key(factories.make_shop(id=33))
    env = {"REDIS_URL": redis_server.url(0), "CELERY_BROKER_URL": redis_server.url(1)}
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with Server(database_url=database_url_for_servers(), workers=1, extra_env=env) as server:
            assert requests.get(server.url + STAGES, headers=headers, timeout=30).status_code == 200
            redis_server.freeze()
            frozen = [
                timed(lambda: requests.get(server.url + STAGES, headers=headers, timeout=30))
                for _ in range(4)
            ]
            frozen_health, health_took = timed(lambda: requests.get(server.url + HEALTH, timeout=30))
            redis_server.thaw()
            redis_server.stop()
            down = requests.get(server.url + STAGES, headers=headers, timeout=30)
            down_health = requests.get(server.url + HEALTH, timeout=30)
    finally:
        redis_server.stop()
    assert [r.status_code for r, _ in frozen] == [200] * 4
    assert sum(took for _, took in frozen) < 5  # one socket timeout, then the process's own memory
    assert frozen_health.status_code == 200 and health_took < 5
    assert frozen_health.json()["status"] == "degraded"
    assert down.status_code == 200
    assert int(down.headers["X-RateLimit-Remaining"]) < int(
        down.headers["X-RateLimit-Limit"]
    )  # still counted
    assert down_health.status_code == 200
    assert down_health.json() == {
        "status": "degraded",
        "database": "ok",
        "cache": "unavailable",
        "broker": "unavailable",
    }
