"""Shared actors: one shop with a manager, an estimator and a viewer, and an
outsider who belongs to another shop; API clients for the shop's key."""

import json
import os

import pytest
from django.core.servers import basehttp

from tests import factories

# Django's development server listens with a backlog of 10 connections; the
# live server of the concurrency tests takes 50 simultaneous clients, which
# a real server (gunicorn: 2048) would queue rather than reset.
basehttp.WSGIServer.request_queue_size = 128


def _plain_transactional(item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        return not marker.kwargs.get("serialized_rollback")
    return bool({"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ())))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Serialized-rollback tests run before the plain transactional ones.

    After a plain transactional test Django flushes the tables and post_migrate
    makes the content types again, under new ids; a serialized-rollback test
    after it reloads the snapshot taken at setup, whose content types collide
    with those (duplicate (app_label, model)). pytest-django already runs the
    rolled-back tests first; this keeps, among the rest, the snapshot users
    ahead of the flushers (a stable sort: each group keeps its order)."""
    items.sort(key=_plain_transactional)


# Playwright runs its own event loop in the test thread; Django's ORM must be
# told that synchronous queries from that thread are fine.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The actors' passwords are hashed in fixtures; the production hasher's
    # deliberate slowness would add about a second to every test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def _stages_left_for_the_next_run(django_db_setup, django_db_blocker):
    # With --reuse-db the next session starts from this database: leave the
    # stages in it, not the last flush's empty table.
    yield
    from django.db import connection

    if not connection.settings_dict["NAME"].startswith("test_"):
        # A test pointed the connection elsewhere (the bench's own database)
        # and the test database is no longer ours to seed.
        return
    with django_db_blocker.unblock():
        from repairs.models import Stage
        from repairs.stages import stages_seed

        stages_seed(Stage)


@pytest.fixture
def shop(db):
    return factories.make_shop(id=33, name="Baggins Body Shop")


@pytest.fixture
def other_shop(db):
    return factories.make_shop(id=44, name="Sackville Collision")


@pytest.fixture
def manager(shop):
    return factories.make_member(shop=shop, role="manager", username="manager")


@pytest.fixture
def estimator(shop):
    return factories.make_member(shop=shop, role="estimator", username="estimator")


@pytest.fixture
def viewer(shop):
    return factories.make_member(shop=shop, role="viewer", username="viewer")


@pytest.fixture
def outsider(other_shop):
    return factories.make_member(shop=other_shop, role="manager", username="outsider")


class ApiClient:
    """Django's test client speaking JSON with an API key."""

    def __init__(self, client, key: str):
        self.client = client
        self.key = key

    def _headers(self, headers):
        return {"Authorization": f"Bearer {self.key}", **(headers or {})}

    def get(self, path, params=None, headers=None):
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def send(self, method, path, body, headers=None):
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.client.generic(
            method, path, data, content_type="application/json", headers=self._headers(headers)
        )

    def post(self, path, body, headers=None):
        return self.send("POST", path, body, headers)

    def patch(self, path, body, headers=None):
        return self.send("PATCH", path, body, headers)


@pytest.fixture
def api_key(shop):
    return factories.make_api_key(shop)


@pytest.fixture
def api(client, api_key):
    return ApiClient(client, api_key)


@pytest.fixture(autouse=True)
def _stages_present(request):
    """Transactional tests flush every table; the 15 stages must be there.

    Django re-seeds them through post_migrate after a flush, except after a
    serialized_rollback test, which inhibits post_migrate.
    """
    marker = request.node.get_closest_marker("django_db")
    transactional = marker and marker.kwargs.get("transaction")
    if transactional or {"transactional_db", "live_server"} & set(request.fixturenames):
        request.getfixturevalue("transactional_db")
        from repairs.models import Stage
        from repairs.stages import stages_seed

        stages_seed(Stage)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters live in the cache (Redis under `make test`): each
    test starts with none, whatever ids earlier tests' keys had."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def asgi_live_server(transactional_db):
    """Like live_server, but the ASGI application on uvicorn: the board's event stream works there."""
    from django.db import connections

    from tests.servers import AsgiLiveServer

    # The server's threads close their connections after each request: none is
    # left open to keep the test database from being flushed or dropped.
    database = connections.settings["default"]
    kept, database["CONN_MAX_AGE"] = database["CONN_MAX_AGE"], 0
    try:
        server = AsgiLiveServer().start()
        yield server
        server.stop()
    finally:
        database["CONN_MAX_AGE"] = kept
