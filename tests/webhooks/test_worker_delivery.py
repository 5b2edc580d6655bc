"""Webhooks end to end: writes committed by this process through every
writer, a real Celery worker on the real broker, a real local receiver, and
the reference `standardwebhooks` verifier, as a receiver would use it."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from integrations.models import BeaconTag, BeaconZone
from integrations.webhooks.models import WebhookEndpoint, WebhookMessage
from integrations.webhooks.services import (
    endpoint_create,
    endpoint_secret_rotate,
    endpoint_test_send,
    webhook_message_resend,
)
from repairs.services import repair_order_move, repair_team_member_add
from tests import factories
from tests.obs.support import wait_until
from tests.webhooks.support import Reply

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

State = WebhookMessage.State


@pytest.fixture(autouse=True)
def _worker(request, webhooks_worker, webhooks_settings):
    yield
    # Let the worker finish recording before the database is emptied (a
    # flush racing its last UPDATE deadlocks).
    wait_until(
        lambda: not WebhookMessage.objects.filter(state=State.PENDING).exists(), timeout=30, message="idle"
    )
    time.sleep(0.5)
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(webhooks_worker.log()[-6000:])


def endpoint(shop, receiver, path, events=("*",)):
    return endpoint_create(shop_id=shop.id, url=receiver.url_for(path), events=list(events))


def settled(**filters):
    rows = list(WebhookMessage.objects.filter(**filters).order_by("id"))
    return rows if rows and all(m.state != State.PENDING for m in rows) else None


def wait_settled(count, timeout=30, **filters):
    return wait_until(
        lambda: (rows := settled(**filters)) and len(rows) >= count and rows,
        timeout=timeout,
        message=f"{count} message(s) {filters} to settle",
    )


def verified(secret, received):
    return Webhook(secret).verify(received.raw, received.headers)


def test_every_event_from_every_writer_arrives_once_per_subscribed_endpoint_signed(api, shop, receiver):
    everything, all_secret = endpoint(shop, receiver, "/all")
    moves, moves_secret = endpoint(shop, receiver, "/moves", ["repair_order.stage_changed"])
    BeaconZone.objects.create(shop=shop, zone_id="booth-1", stage_id=9)

    # The batch API: created, then updated.
    created = api.post(
        "/api/v1/repair-orders", [{"shop_id": 33, "repair_orders": [{"repair_number": "W-1"}]}]
    )
    assert created.status_code == 201
    patched = api.patch(
        "/api/v1/repair-orders",
        [{"shop_id": 33, "repair_orders": [{"repair_number": "W-1", "customer": {"last_name": "Baggins"}}]}],
    )
    assert patched.status_code == 200
    ro = shop.repair_orders.get(repair_number="W-1")
    # The team editor: updated. The board: stage changed. A beacon: stage changed.
    repair_team_member_add(repair_order_id=ro.id, external_id="E1", person_fields={"first_name": "Sam"})
    repair_order_move(repair_order_id=ro.id, stage_id=7, source="board")
    BeaconTag.objects.create(shop=shop, beacon_id="TAG-W", repair_order=ro)
    beacon = api.post(
        "/api/v1/beacon-events",
        [{"shop_id": 33, "beacon_id": "TAG-W", "zone_id": "booth-1", "seen_at": timezone.now().isoformat()}],
    )
    assert beacon.json()["results"][0]["outcome"] == "moved"

    wait_settled(5, endpoint=everything)
    wait_settled(2, endpoint=moves)
    time.sleep(2)  # longer than the sweep's interval and grace: a duplicate would show by now
    to_all = receiver.received_at("/all")
    to_moves = receiver.received_at("/moves")
    assert [json.loads(r.raw)["type"] for r in to_all] == [
        "repair_order.created",
        "repair_order.updated",
        "repair_order.updated",
        "repair_order.stage_changed",
        "repair_order.stage_changed",
    ]
    assert [json.loads(r.raw)["type"] for r in to_moves] == ["repair_order.stage_changed"] * 2
    bodies = [verified(all_secret, r) for r in to_all]
    for r in to_moves:
        verified(moves_secret, r)
        with pytest.raises(WebhookVerificationError):
            verified(all_secret, r)  # each endpoint its own secret
    assert len({r.headers["webhook-id"] for r in to_all + to_moves}) == 7

    # The body: the RO exactly as the read API returns it (+ the move's fields).
    now_read = api.get("/api/v1/shops/33/repair-orders/W-1").json()
    last = bodies[-1]
    assert last["data"] == now_read | {"from_stage_id": 7, "to_stage_id": 9, "source": "beacon"}
    assert [b["data"]["version"] for b in bodies] == sorted(b["data"]["version"] for b in bodies)
    assert bodies[0]["data"]["stage_id"] == 1 and bodies[0]["data"]["repair_number"] == "W-1"
    assert bodies[1]["data"]["customer"]["last_name"] == "Baggins"
    assert [m["id"] for m in bodies[2]["data"]["repair_team"]] == ["E1"]
    moved = bodies[3]["data"]
    assert (moved["from_stage_id"], moved["to_stage_id"], moved["source"]) == (1, 7, "board")
    for body in bodies:
        assert set(body) == {"type", "timestamp", "data"}
        assert body["timestamp"].endswith("Z")


def test_an_unsubscribed_event_is_not_recorded_nor_sent(shop, receiver):
    endpoint(shop, receiver, "/created-only", ["repair_order.created"])
    ro = factories.make_repair_order(shop=shop)
    repair_order_move(repair_order_id=ro.id, stage_id=3, source="board")
    time.sleep(2)
    assert not WebhookMessage.objects.exists()
    assert receiver.received == []


def test_after_a_rotation_both_secrets_verify_for_a_day_then_only_the_new(shop, receiver):
    hook, old_secret = endpoint(shop, receiver, "/rotating")
    hook, new_secret = endpoint_secret_rotate(endpoint_id=hook.id)
    endpoint_test_send(endpoint_id=hook.id)
    wait_settled(1, endpoint=hook)
    [during] = receiver.received_at("/rotating")
    assert verified(new_secret, during)["type"] == "webhook.test"
    assert verified(old_secret, during)["type"] == "webhook.test"

    # A day later (the rotation's deadline passed), only the new secret signs.
    WebhookEndpoint.objects.filter(pk=hook.id).update(
        previous_secret_until=timezone.now() - timedelta(seconds=1)
    )
    endpoint_test_send(endpoint_id=hook.id)
    wait_settled(2, endpoint=hook)
    after = receiver.received_at("/rotating")[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    verified(new_secret, after)
    with pytest.raises(WebhookVerificationError):
        verified(old_secret, after)


def test_500s_then_recovery_deliver_each_message_once_in_order(shop, receiver):
    hook, secret = endpoint(shop, receiver, "/flaky", ["repair_order.stage_changed"])
    receiver.script(Reply(500, {}), Reply(500, {}), Reply(drop=True))
    ro = factories.make_repair_order(shop=shop)
    for stage_id in (2, 3, 4, 5):
        repair_order_move(repair_order_id=ro.id, stage_id=stage_id, source="board")
    messages = wait_settled(4, endpoint=hook)
    assert [m.state for m in messages] == [State.DELIVERED] * 4
    assert [a.http_status for a in messages[0].attempts.order_by("id")] == [500, 500, None, 200]
    delivered = receiver.completed
    assert [verified(secret, r)["data"]["to_stage_id"] for r in delivered] == [2, 3, 4, 5]
    assert len({r.headers["webhook-id"] for r in delivered}) == 4
    # Every attempt of the first message carried the same webhook-id.
    assert {r.headers["webhook-id"] for r in receiver.received[:4]} == {messages[0].webhook_id}


def test_retry_after_is_honoured(shop, receiver):
    hook, _ = endpoint(shop, receiver, "/slow-down")
    receiver.script(Reply(429, {}, headers={"Retry-After": "1"}))
    endpoint_test_send(endpoint_id=hook.id)
    [message] = wait_settled(1, endpoint=hook)
    first, second = message.attempts.order_by("attempted_at", "id")
    # The test backoff would retry after 0.2-0.24 s; the endpoint asked for 1 s.
    assert (second.attempted_at - first.attempted_at).total_seconds() >= 1.0


def test_410_disables_the_endpoint_at_once_and_nothing_more_is_sent(shop, receiver):
    hook, _ = endpoint(shop, receiver, "/gone")
    receiver.script(Reply(410, {"error": "unsubscribed"}))
    ro = factories.make_repair_order(shop=shop)
    repair_order_move(repair_order_id=ro.id, stage_id=2, source="board")
    repair_order_move(repair_order_id=ro.id, stage_id=3, source="board")
    messages = wait_settled(2, endpoint=hook)
    hook.refresh_from_db()
    assert not hook.enabled and "410" in hook.disabled_reason
    assert [m.state for m in messages] == [State.FAILED, State.FAILED]
    assert messages[0].attempts.count() == 1 and messages[1].attempts.count() == 0
    assert "Endpoint disabled" in messages[1].last_error
    repair_order_move(repair_order_id=ro.id, stage_id=4, source="board")
    time.sleep(2)
    assert len(receiver.received) == 1
    assert WebhookMessage.objects.filter(endpoint=hook).count() == 2


def test_a_resend_delivers_again_with_the_same_webhook_id(shop, receiver):
    hook, secret = endpoint(shop, receiver, "/again")
    endpoint_test_send(endpoint_id=hook.id)
    [message] = wait_settled(1, endpoint=hook)
    assert message.state == State.DELIVERED
    webhook_message_resend(message_id=message.id)
    wait_until(lambda: len(receiver.completed) == 2, timeout=20, message="the re-send")
    first, second = receiver.completed
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == message.webhook_id
    assert first.raw == second.raw
    verified(secret, second)


def test_a_big_batch_fans_out_and_every_ro_arrives_once(api, shop, receiver):
    hook, secret = endpoint(shop, receiver, "/batch", ["repair_order.created"])
    numbers = [
        f"B-{i}" for i in range(45)
    ]  # more than one publish per message is worth (queue.FAN_OUT_ABOVE)
    response = api.post(
        "/api/v1/repair-orders", [{"shop_id": 33, "repair_orders": [{"repair_number": n} for n in numbers]}]
    )
    assert response.status_code == 201
    wait_settled(45, endpoint=hook)
    time.sleep(2)
    received = receiver.received_at("/batch")
    assert sorted(verified(secret, r)["data"]["repair_number"] for r in received) == sorted(numbers)
    assert len({r.headers["webhook-id"] for r in received}) == 45
