import pytest

from repairs.models import StageChange
from repairs.services import StaleVersion, repair_order_move
from tests.factories import make_repair_order


def test_move_records_stage_change_and_bumps_version(shop, manager):
    ro = make_repair_order(shop=shop)
    result = repair_order_move(
        repair_order_id=ro.id, stage_id=7, source="board", user=manager, expected_version=1
    )
    assert result.moved
    ro.refresh_from_db()
    assert (ro.stage_id, ro.version) == (7, 2)
    change = StageChange.objects.get(repair_order=ro)
    assert (change.from_stage_id, change.to_stage_id, change.changed_by, change.source) == (
        1,
        7,
        manager,
        "board",
    )


def test_move_with_stale_version_changes_nothing(shop, manager):
    ro = make_repair_order(shop=shop)
    repair_order_move(repair_order_id=ro.id, stage_id=3, source="board", user=manager)
    with pytest.raises(StaleVersion):
        repair_order_move(repair_order_id=ro.id, stage_id=9, source="board", user=manager, expected_version=1)
    ro.refresh_from_db()
    assert (ro.stage_id, ro.version) == (3, 2)
    assert StageChange.objects.filter(repair_order=ro).count() == 1


def test_move_to_same_stage_is_a_no_op(shop):
    ro = make_repair_order(shop=shop, stage_id=4)
    result = repair_order_move(repair_order_id=ro.id, stage_id=4, source="beacon")
    assert not result.moved
    ro.refresh_from_db()
    assert ro.version == 1
    assert not StageChange.objects.exists()


def test_event_older_than_latest_change_is_stale_and_changes_nothing(shop):
    from datetime import timedelta

    from repairs.services import StaleEvent

    ro = make_repair_order(shop=shop)
    repair_order_move(repair_order_id=ro.id, stage_id=5, source="board")
    ro.refresh_from_db()
    with pytest.raises(StaleEvent):
        repair_order_move(
            repair_order_id=ro.id,
            stage_id=9,
            source="beacon",
            event_at=ro.stage_entered_at - timedelta(seconds=1),
        )
    ro.refresh_from_db()
    assert ro.stage_id == 5
