"""Concurrent moves of one RO on the real PostgreSQL: the version rule holds."""

import pytest

from repairs.models import RepairOrder, StageChange
from repairs.services import StaleVersion, repair_order_move
from tests.factories import make_repair_order, make_shop
from tests.security.parallel import in_parallel

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_moves_with_the_same_version_let_exactly_one_win():
    ro = make_repair_order(shop=make_shop())
    stages = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    results = in_parallel(
        len(stages),
        lambda i: repair_order_move(
            repair_order_id=ro.id, stage_id=stages[i], source="board", expected_version=1
        ),
    )
    winners = [r for r in results if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1
    assert all(isinstance(r, StaleVersion) for r in losers), losers
    ro.refresh_from_db()
    assert ro.version == 2
    assert ro.stage_id == winners[0].repair_order.stage_id
    assert StageChange.objects.filter(repair_order=ro).count() == 1


def test_concurrent_moves_without_version_all_land_in_history_and_version():
    ro = make_repair_order(shop=make_shop())
    # Alternating targets so every move is a real change whatever the order.
    results = in_parallel(
        12, lambda i: repair_order_move(repair_order_id=ro.id, stage_id=7 if i % 2 else 9, source="beacon")
    )
    assert not [r for r in results if isinstance(r, Exception)]
    ro = RepairOrder.objects.get(pk=ro.pk)
    changes = StageChange.objects.filter(repair_order=ro).count()
    # Each change bumped the version exactly once: no lost update.
    assert ro.version == 1 + changes
    assert changes >= 1
