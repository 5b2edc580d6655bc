"""A chunked request body over real servers (issue 14): gunicorn de-chunks it
and the batch is read and saved; Django's development server cannot, and the
answer says so (411) instead of "Invalid JSON at line 1, column 1"."""

import http.client
import json
import os
from urllib.parse import urlparse

import pytest

from bench.harness import Server
from repairs.models import RepairOrder
from tests.factories import make_api_key, make_shop
from tests.servers import database_url_for_servers

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
URL = "/api/v1/repair-orders"


def post_chunked(base_url: str, key: str, body: bytes, chunk: int = 7) -> tuple[int, dict]:
    """POST body in chunks of `chunk` bytes (Transfer-Encoding: chunked, no Content-Length)."""
    parsed = urlparse(base_url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    try:
        conn.request(
            "POST", URL, body=(body[i : i + chunk] for i in range(0, len(body), chunk)), encode_chunked=True,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                     "Transfer-Encoding": "chunked"},
        )  # fmt: skip
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.fixture
def key():
    return make_api_key(make_shop(id=33))


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="gunicorn shares the PostgreSQL test database",
)
def test_gunicorn_reads_a_chunked_batch(key):
    body = json.dumps(
        [{"shop_id": 33, "repair_orders": [{"repair_number": f"C{i}"} for i in range(50)]}]
    ).encode()
    extra = {name: os.environ[name] for name in ("REDIS_URL", "CELERY_BROKER_URL") if os.environ.get(name)}
    with Server(database_url=database_url_for_servers(), workers=1, extra_env=extra) as server:
        status, answer = post_chunked(server.url, key, body)
    assert status == 201, answer
    assert answer["count"] == 50
    assert RepairOrder.objects.filter(shop_id=33).count() == 50


def test_the_development_server_answers_411_for_a_chunked_body(live_server, key):
    body = json.dumps([{"shop_id": 33, "repair_orders": [{"repair_number": "C1"}]}]).encode()
    status, answer = post_chunked(live_server.url, key, body)
    assert status == 411
    assert answer["errors"][0]["code"] == "length_required"
    assert answer["errors"][0]["parameter"] == "Transfer-Encoding"
    assert not RepairOrder.objects.exists()
