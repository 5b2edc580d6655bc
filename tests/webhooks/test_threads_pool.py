"""Deliveries on the pool production runs the delivery queue with: threads
(docs/operations.md; bench/harness.py DELIVERY_POOL). Several threads of one
worker take tasks of the same lanes at once; the lock and the lease keep
each RO's messages to each endpoint in order and each delivered once, and
OBS on each RO's current stage."""

import json
import time
from collections import defaultdict

import pytest

from bench.harness import DELIVERY_POOL
from integrations.webhooks.models import WebhookMessage
from integrations.webhooks.services import endpoint_create
from repairs.services import repair_order_move
from tests.obs.support import make_obs_repair_order, wait_until
from tests.webhooks.conftest import start_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

State = WebhookMessage.State
ENDPOINTS = ("/a", "/b")
STAGES = (2, 3, 4, 5, 6, 7)


@pytest.fixture(scope="module")
def threads_worker(django_db_setup, receiver_server, tmp_path_factory):
    pool, concurrency = DELIVERY_POOL
    worker = start_worker(
        receiver_server, tmp_path_factory.mktemp("celery"), pool=pool, concurrency=concurrency
    )
    yield worker
    worker.stop()


def test_a_threads_worker_delivers_each_message_once_in_order_per_ro_and_endpoint(
    threads_worker, webhooks_settings, shop, receiver
):
    assert DELIVERY_POOL[0] == "threads" and DELIVERY_POOL[1] > 1
    for path in ENDPOINTS:
        endpoint_create(shop_id=shop.id, url=receiver.url_for(path), events=["*"])
    ros = [make_obs_repair_order(shop) for _ in range(3)]
    # Interleaved moves of the ROs: their lanes' tasks reach the threads together.
    for stage_id in STAGES:
        for ro in ros:
            repair_order_move(repair_order_id=ro.id, stage_id=stage_id, source="board")

    made = len(ros) * len(STAGES) * len(ENDPOINTS)
    wait_until(
        lambda: WebhookMessage.objects.filter(state=State.DELIVERED).count() == made,
        timeout=60,
        message=f"{made} webhook messages delivered",
    )
    time.sleep(1.5)  # past the sweep's interval and grace: a duplicate would show by now
    assert not WebhookMessage.objects.exclude(state=State.DELIVERED).exists()

    seen = defaultdict(int)
    versions = defaultdict(list)
    for received in receiver.completed:
        if received.path in ENDPOINTS:
            body = json.loads(received.raw)
            seen[received.headers["webhook-id"]] += 1
            versions[(received.path, body["data"]["repair_number"])].append(body["data"]["version"])
    assert len(seen) == made and set(seen.values()) == {1}
    assert len(versions) == len(ros) * len(ENDPOINTS)
    assert all(v == sorted(v) and len(v) == len(STAGES) for v in versions.values())

    # OBS ends on every RO's last stage.
    def obs_last() -> dict[str, str]:
        last = {}
        for received in receiver.completed:
            if received.path == "/obs":
                [update] = received.body
                last[update["obs_event_id"]] = update["status"]
        return last

    final = {ro.obs_event_id: str(STAGES[-1]) for ro in ros}
    wait_until(lambda: obs_last() == final, timeout=30, message="OBS on every RO's last stage")
