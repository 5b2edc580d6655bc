"""The lane rule in one process, step by step: one RO's messages to one
endpoint go out in order; a worker that dies (or loses its database
connection) mid-call holds the lane only until its lease (the shared
DeliveryFence of integrations/delivery/locks.py) lapses, and the message is then
sent again with the same webhook-id, still before the next."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.delivery import services as engine
from integrations.delivery.adapters import SendResult, adapter_for
from integrations.delivery.models import Destination
from integrations.models import DeliveryFence
from integrations.webhooks import services
from integrations.webhooks.models import WebhookMessage
from repairs.services import repair_order_move
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

State = WebhookMessage.State


@pytest.fixture
def lane(shop, receiver, webhooks_settings):
    hook, _ = services.endpoint_create(shop_id=shop.id, url=receiver.url_for("/lane"), events=["*"])
    ro = factories.make_repair_order(shop=shop)
    for stage_id in (2, 3):
        repair_order_move(repair_order_id=ro.id, stage_id=stage_id, source="board")
    return list(WebhookMessage.objects.filter(endpoint=hook).order_by("id"))


WEBHOOKS = adapter_for(Destination.WEBHOOK)


def _claim(message):
    """What a worker's claim on the message's lane does (the engine's claim transaction)."""
    lane = engine.Lane(
        destination=message.destination,
        endpoint_id=message.endpoint_id,
        repair_order_id=message.repair_order_id,
        message_id=message.id,
    )
    return engine.lane_head_claim(lane, WEBHOOKS)


def _lease_lapses(message):
    """What time does to a claim whose worker never came back: its lease and its booking run out."""
    DeliveryFence.objects.filter(repair_order_id=message.repair_order_id).update(
        held_until=timezone.now() - timedelta(seconds=1)
    )
    WebhookMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())


def test_a_dead_workers_claim_holds_the_lane_until_it_lapses_then_the_message_goes_again_first(
    lane, receiver
):
    first, second = lane
    # A worker claims the head and dies before recording anything.
    claim = _claim(first)
    assert claim.message.id == first.id
    # A task for the lane's later message finds the head booked (nothing due), and leaves.
    assert services.webhook_message_deliver(message_id=second.id).outcome == "nothing"
    assert receiver.received == []
    # Only the lane's booking is due, not its lease: still nobody sends.
    WebhookMessage.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())
    assert services.webhook_message_deliver(message_id=second.id).outcome == "busy"
    _lease_lapses(first)
    report = services.webhook_message_deliver(message_id=second.id)
    assert report.outcome == "delivered"
    assert [r.headers["webhook-id"] for r in receiver.received] == [first.webhook_id, second.webhook_id]
    assert [m.state for m in WebhookMessage.objects.order_by("id")] == [State.DELIVERED] * 2


def test_a_frozen_workers_late_record_is_fenced_off(lane, receiver):
    first, _ = lane
    stale = _claim(first)
    _lease_lapses(first)
    fresh = _claim(first)
    assert fresh.token == stale.token + 1
    # The first worker comes back and reports a failure: its attempt is kept,
    # but it cannot change the message the second claim now holds.
    failure = SendResult(False, 500, "HTTP 500.", "", 5)
    assert engine.attempt_record(stale, WEBHOOKS, failure) == "superseded"
    first.refresh_from_db()
    assert (first.state, first.attempt_count, first.last_error) == (State.PENDING, 2, "")
    assert first.attempts.count() == 1
    # The current claim records its outcome.
    ok = SendResult(True, 200, "", "", 5)
    assert engine.attempt_record(fresh, WEBHOOKS, ok) == "delivered"
    first.refresh_from_db()
    assert first.state == State.DELIVERED
