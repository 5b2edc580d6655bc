"""The outbox row is written in the move's own transaction (SPEC §5)."""

import pytest
from django.db import transaction

from integrations.models import Notification, ObsSettings
from repairs.models import StageChange
from repairs.services import StaleVersion, repair_order_move
from tests.factories import make_repair_order
from tests.obs.support import make_obs_repair_order


def test_move_of_obs_repair_order_records_one_pending_notification(shop, manager):
    ro = make_obs_repair_order(shop)
    result = repair_order_move(repair_order_id=ro.id, stage_id=7, source="board", user=manager)
    notification = Notification.objects.get(repair_order=ro)
    assert notification.state == Notification.State.PENDING
    assert notification.obs_event_id == ro.obs_event_id
    assert notification.stage_id == 7
    assert notification.stage_change == result.stage_change
    assert notification.next_attempt_at is not None
    assert notification.attempt_count == 0


def test_notification_rolls_back_with_the_move(shop):
    ro = make_obs_repair_order(shop)
    with pytest.raises(RuntimeError), transaction.atomic():
        repair_order_move(repair_order_id=ro.id, stage_id=7, source="board")
        raise RuntimeError("the caller's transaction fails after the move")
    assert not StageChange.objects.filter(repair_order=ro).exists()
    assert not Notification.objects.filter(repair_order=ro).exists()


def test_refused_move_records_nothing(shop):
    ro = make_obs_repair_order(shop)
    with pytest.raises(StaleVersion):
        repair_order_move(repair_order_id=ro.id, stage_id=7, source="board", expected_version=99)
    assert not Notification.objects.exists()


@pytest.mark.parametrize("obs_event_id", [None, ""])
def test_repair_order_without_obs_event_id_records_nothing(shop, obs_event_id):
    ro = make_repair_order(shop=shop, obs_event_id=obs_event_id)
    repair_order_move(repair_order_id=ro.id, stage_id=7, source="board")
    assert StageChange.objects.filter(repair_order=ro).exists()
    assert not Notification.objects.exists()


def test_shop_with_obs_off_records_nothing(shop):
    ObsSettings.objects.create(shop=shop, enabled=False)
    ro = make_obs_repair_order(shop)
    repair_order_move(repair_order_id=ro.id, stage_id=7, source="board")
    assert not Notification.objects.exists()


def test_move_to_the_same_stage_records_nothing(shop):
    ro = make_obs_repair_order(shop, stage_id=4)
    repair_order_move(repair_order_id=ro.id, stage_id=4, source="beacon")
    assert not Notification.objects.exists()


def test_each_move_records_its_own_notification_in_order(shop):
    ro = make_obs_repair_order(shop)
    for stage_id in (3, 5, 9):
        repair_order_move(repair_order_id=ro.id, stage_id=stage_id, source="board")
    assert list(
        Notification.objects.filter(repair_order=ro).order_by("id").values_list("stage_id", flat=True)
    ) == [3, 5, 9]
