"""A task that finds its lane held leaves it to the holder; the holder looks
again after letting go, so a message committed while it held the lane is
sent by the same call, not left to the sweep (in-process, real PostgreSQL,
a real local receiver)."""

import pytest

from integrations.delivery import services as engine
from integrations.delivery.models import Destination, Message
from integrations.webhooks.services import endpoint_create
from repairs.services import repair_order_move
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_message_committed_while_the_holder_finds_nothing_due_is_sent_by_the_holder(
    shop, receiver, webhooks_settings, monkeypatch
):
    hook, _ = endpoint_create(shop_id=shop.id, url=receiver.url_for("/lane"), events=["*"])
    ro = factories.make_repair_order(shop=shop)
    repair_order_move(repair_order_id=ro.id, stage_id=2, source="board")
    [first] = Message.objects.filter(endpoint=hook)
    assert engine.message_deliver(message_id=first.id).outcome == "delivered"

    claim = engine.lane_head_claim

    def claim_then_a_move_commits(lane, adapter):
        # The holder's claim finds nothing due; before it lets go of the lane,
        # another writer commits a move (whose task would find the lane busy).
        result = claim(lane, adapter)
        if result is None and not Message.objects.filter(endpoint=hook, state="pending").exists():
            repair_order_move(repair_order_id=ro.id, stage_id=3, source="board")
        return result

    monkeypatch.setattr(engine, "lane_head_claim", claim_then_a_move_commits)
    report = engine.message_deliver(message_id=first.id)
    assert report.outcome == "delivered"
    states = list(
        Message.objects.filter(destination=Destination.WEBHOOK, endpoint=hook)
        .order_by("id")
        .values_list("state")
    )
    assert states == [("delivered",), ("delivered",)]
    assert [b["data"]["stage_id"] for b in receiver.bodies("/lane")] == [2, 3]
