"""The per-RO delivery lease (integrations/obs/locks.py), in-process against
the real PostgreSQL and a real local OBS: a claim keeps others off the RO
without any connection holding it, and a claim overtaken by another sends
the newest stage again."""

import threading
import time

import pytest
from django.db import connection, transaction
from django.db.models import F

from integrations.models import DeliveryFence, Notification
from integrations.obs.locks import fence_claim, fence_release
from integrations.obs.services import notification_deliver
from repairs.services import repair_order_move
from tests.obs.support import Reply, make_obs_repair_order, wait_until

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

State = Notification.State


@pytest.fixture
def fast(obs_settings, fake_obs):
    obs_settings.OBS_UPDATE_URL = fake_obs.url
    return obs_settings


def test_a_lease_outlives_its_holders_connection_and_keeps_others_off(fast, fake_obs, shop):
    ro = make_obs_repair_order(shop)
    repair_order_move(repair_order_id=ro.id, stage_id=7, source="board")
    notification = Notification.objects.get(repair_order=ro)
    with transaction.atomic():
        token = fence_claim(repair_order_id=ro.id, hold_seconds=60)
    connection.close()  # the holder's connection is gone; its lease is not

    assert notification_deliver(notification_id=notification.id).outcome == "busy"
    assert fake_obs.received == []
    assert fence_release(repair_order_id=ro.id, token=token)
    assert notification_deliver(notification_id=notification.id).outcome == "delivered"
    assert [r.body[0]["status"] for r in fake_obs.received] == ["7"]


def test_a_lease_that_ran_out_can_be_claimed_again(fast, shop):
    ro = make_obs_repair_order(shop)
    with transaction.atomic():
        first = fence_claim(repair_order_id=ro.id, hold_seconds=0.1)
    with transaction.atomic():
        assert fence_claim(repair_order_id=ro.id, hold_seconds=60) is None
    time.sleep(0.2)
    with transaction.atomic():
        second = fence_claim(repair_order_id=ro.id, hold_seconds=60)
    assert second == first + 1
    assert not fence_release(repair_order_id=ro.id, token=first)
    assert fence_release(repair_order_id=ro.id, token=second)


def test_a_call_overtaken_by_another_claim_sends_the_newest_stage_again(fast, fake_obs, shop):
    """While the call to OBS runs, another claim takes the RO (as after a
    lease ran out): the call's outcome is uncertain, so the newest stage is
    queued again as a new notification, and sent after the call."""
    fake_obs.script(Reply(delay=0.8))
    ro = make_obs_repair_order(shop)
    repair_order_move(repair_order_id=ro.id, stage_id=5, source="board")
    original = Notification.objects.get(repair_order=ro)
    reports = []

    def deliver():
        reports.append(notification_deliver(notification_id=original.id))
        connection.close()

    worker = threading.Thread(target=deliver)
    worker.start()
    wait_until(lambda: fake_obs.received, message="the call to reach OBS")
    # Another worker's claim, made and ended while this call runs.
    DeliveryFence.objects.filter(repair_order=ro).update(token=F("token") + 1, held_until=None)
    worker.join(timeout=20)

    # The same delivery call found the copy due and sent it too.
    assert reports[0].outcome == "delivered"
    rows = list(Notification.objects.filter(repair_order=ro).order_by("id"))
    assert [(n.stage_id, n.state) for n in rows] == [(5, State.DELIVERED), (5, State.DELIVERED)]
    assert rows[0].id == original.id and rows[1].stage_change_id is None
    assert [r.body[0]["status"] for r in fake_obs.completed] == ["5", "5"]
