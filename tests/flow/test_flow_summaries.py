"""The flow summaries stay exact: every figure read from them equals the same figure computed from
the stage history itself (repairs/flow_live.py), whatever the writers did.

Histories are built through the real writers: batch creates and patches (repairs/batch), moves of
the board and of beacons, back into production and forward again, and the board's undo (a move
back with the version the move answered). Beacon moves date the change (`event_at`), which spreads a
history over weeks; a board move is dated now, which puts it before the beacons' later-dated
changes: histories written out of time order, which the summaries must get right too.
"""

import importlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.contrib import admin
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repairs.admin import RepairOrderAdmin
from repairs.batch import RepairOrderInput, ShopBatch, repair_orders_create, repair_orders_update
from repairs.flow import FlowPeriod, flow_cycle_points, flow_delivered_rows, flow_figures
from repairs.flow_live import flow_live_delivered_rows, flow_live_figures
from repairs.models import FlowDelivery, FlowVisit, RepairOrder, StageChange
from repairs.services import StaleVersion, repair_order_move
from repairs.signals import stage_changed
from repairs.stages import STAGES
from tests import factories
from tests.flow.history import local, make_history

STAGE_IDS = [stage_id for _, stage_id, _ in STAGES]
ZONES = ["America/Chicago", "UTC", "Asia/Kolkata"]


class Rollback(Exception):
    """Ends an example: everything it wrote is rolled back."""


@dataclass(frozen=True)
class Create:
    count: int
    promised_hours: int | None


@dataclass(frozen=True)
class Move:
    ro: int  # index into the ROs created so far
    stage_id: int
    hours: int | None  # beacon: dated this long after the RO's last change; None: a board move, dated now


@dataclass(frozen=True)
class Undo:
    ro: int


@dataclass(frozen=True)
class Patch:
    ro: int
    promised_hours: int | None


OPERATIONS = st.one_of(
    st.builds(Create, st.integers(1, 3), st.none() | st.integers(24, 24 * 20)),
    st.builds(Move, st.integers(0, 20), st.sampled_from(STAGE_IDS), st.none() | st.integers(1, 24 * 6)),
    st.builds(Undo, st.integers(0, 20)),
    st.builds(Patch, st.integers(0, 20), st.none() | st.integers(24, 24 * 20)),
)


class Writer:
    """Applies operations through the real writers and remembers what the board's undo needs."""

    def __init__(self, shop_id: int, started: datetime):
        self.shop_id, self.started = shop_id, started
        self.ro_ids: list[int] = []
        self.undo: dict[int, tuple[int, int]] = {}  # RO id: (stage before its last move, version after it)

    def apply(self, operation) -> None:
        if isinstance(operation, Create):
            self._create(operation)
        elif not self.ro_ids:
            return
        elif isinstance(operation, Move):
            self._move(self.ro_ids[operation.ro % len(self.ro_ids)], operation)
        elif isinstance(operation, Undo):
            self._undo(self.ro_ids[operation.ro % len(self.ro_ids)])
        else:
            self._patch(self.ro_ids[operation.ro % len(self.ro_ids)], operation.promised_hours)

    def _promise(self, hours: int | None) -> datetime | None:
        return None if hours is None else self.started + timedelta(hours=hours)

    def _create(self, operation: Create) -> None:
        first = len(self.ro_ids)
        batch = [
            RepairOrderInput(f"P{first + i}", {"scheduled_delivery": self._promise(operation.promised_hours)})
            for i in range(operation.count)
        ]
        written = repair_orders_create(shop_entries=[ShopBatch(self.shop_id, batch)])
        self.ro_ids += [ro.id for ro in written]

    def _move(self, ro_id: int, operation: Move) -> None:
        last = StageChange.objects.filter(repair_order_id=ro_id).order_by("-changed_at").first()
        event_at = None if operation.hours is None else last.changed_at + timedelta(hours=operation.hours)
        before = RepairOrder.objects.values_list("stage_id", flat=True).get(pk=ro_id)
        result = repair_order_move(
            repair_order_id=ro_id,
            stage_id=operation.stage_id,
            source=StageChange.Source.BOARD if event_at is None else StageChange.Source.BEACON,
            event_at=event_at,
        )
        if result.moved:
            self.undo[ro_id] = (before, result.repair_order.version)

    def _undo(self, ro_id: int) -> None:
        if ro_id not in self.undo:
            return
        stage_id, version = self.undo.pop(ro_id)
        try:
            repair_order_move(
                repair_order_id=ro_id,
                stage_id=stage_id,
                source=StageChange.Source.BOARD,
                expected_version=version,
            )
        except StaleVersion:  # changed since (a PATCH): the board answers 409 and nothing moves
            pass

    def _patch(self, ro_id: int, promised_hours: int | None) -> None:
        number = f"P{self.ro_ids.index(ro_id)}"
        repair_orders_update(
            shop_entries=[
                ShopBatch(
                    self.shop_id,
                    [RepairOrderInput(number, {"scheduled_delivery": self._promise(promised_hours)})],
                )
            ]
        )


def _periods(shop_id: int, zone: str, started: datetime) -> list[FlowPeriod]:
    """Periods that begin before the first write (the live statements find the ROs a period touches by
    their rows' updated_at, which a beacon's later date does not move), end on various days, and are
    seen after the last change."""
    today = started.astimezone(ZoneInfo(zone)).date()
    now = started + timedelta(days=400)
    return [
        FlowPeriod(
            shop_id=shop_id,
            time_zone=zone,
            date_from=today - timedelta(days=1),
            date_to=today + timedelta(days=days),
            now=now,
        )
        for days in (0, 3, 12, 45, 200)
    ]


def _rows(rows) -> list[tuple]:
    return [(r.repair_number, r.arrived_at, r.delivered_at, r.cycle_seconds, r.promised) for r in rows]


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(OPERATIONS, min_size=1, max_size=25), zone=st.sampled_from(ZONES))
def test_summaries_give_the_figures_of_the_history_whatever_the_writers_did(operations, zone):
    try:
        with transaction.atomic():
            shop = factories.make_shop(id=9100, time_zone=zone)
            writer = Writer(shop.id, timezone.now())
            for operation in operations:
                writer.apply(operation)
            for period in _periods(shop.id, zone, writer.started):
                assert flow_figures(period) == flow_live_figures(period)
                live_rows = _rows(flow_live_delivered_rows(period))
                assert _rows(flow_delivered_rows(period)) == live_rows
                points = flow_cycle_points(period)
                assert [(number, seconds) for _, seconds, number in points] == [
                    (r[0], r[3]) for r in live_rows if r[3] is not None
                ]
                assert [x for x, _, _ in points] == pytest.approx(
                    [r[2].timestamp() * 1000 for r in live_rows if r[3] is not None]
                )
            raise Rollback
    except Rollback:
        pass


def _summaries() -> tuple[list, list]:
    visits = list(
        FlowVisit.objects.order_by("pk").values_list("pk", "shop_id", "stage_id", "entered_at", "left_at")
    )
    deliveries = list(
        FlowDelivery.objects.order_by("pk").values_list("pk", "shop_id", "delivered_at", "arrived_at")
    )
    return visits, deliveries


class Boom(Exception):
    pass


def test_a_move_rolled_back_leaves_the_summaries_as_they_were(db):
    shop = factories.make_shop()
    ro = make_history(shop, [(1, "2026-04-01 08:00"), (2, "2026-04-02 08:00"), (13, "2026-04-06 08:00")])
    before = _summaries()
    assert before[0] and not before[1]

    def fail(**kwargs):  # a receiver of the move's transaction fails (the OBS outbox, a webhook)
        raise Boom

    stage_changed.connect(fail, dispatch_uid="test-fail")
    try:
        with pytest.raises(Boom):
            repair_order_move(repair_order_id=ro.id, stage_id=15, source=StageChange.Source.BOARD)
    finally:
        stage_changed.disconnect(dispatch_uid="test-fail")

    assert _summaries() == before
    repair_order_move(repair_order_id=ro.id, stage_id=15, source=StageChange.Source.BOARD)
    assert _summaries() != before and FlowDelivery.objects.filter(pk=ro.id).exists()


def test_the_migration_fills_the_summaries_the_writers_keep(db):
    """0007's INSERT … SELECT from a history already recorded gives the rows the writers wrote."""
    shop = factories.make_shop()
    make_history(
        shop,
        [
            (1, "2026-04-01 08:00"),
            (2, "2026-04-02 08:00"),
            (15, "2026-04-04 08:00"),
            (14, "2026-04-05 08:00"),
        ],
    )
    make_history(
        shop,
        [(1, "2026-04-01 08:00"), (2, "2026-04-02 08:00"), (15, "2026-04-04 08:00"), (9, "2026-04-05 08:00")],
    )
    make_history(
        shop,
        [
            (1, "2026-04-01 08:00"),
            (7, "2026-04-02 08:00"),
            (14, "2026-04-03 08:00"),
            (10, "2026-04-04 08:00"),
            (14, "2026-04-06 08:00"),
        ],
    )
    make_history(shop, [(1, "2026-04-01 08:00")])
    written = _summaries()
    assert len(written[1]) == 2
    migration = importlib.import_module("repairs.migrations.0008_flow_summaries")
    FlowVisit.objects.all().delete()
    FlowDelivery.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(migration.VISITS_BACKFILL)
        cursor.execute(migration.DELIVERIES_BACKFILL)
    assert _summaries() == written


def test_an_admin_change_of_the_promise_reaches_the_delivery_summary(db, rf):
    shop = factories.make_shop()
    ro = make_history(
        shop,
        [(1, "2026-04-01 08:00"), (2, "2026-04-02 08:00"), (14, "2026-04-05 08:00")],
        promised="2026-04-04 17:00",
    )
    promised = local(shop, "2026-04-06 17:00")
    ro.scheduled_delivery = promised
    RepairOrderAdmin(RepairOrder, admin.site).save_model(
        rf.post("/admin/"), ro, SimpleNamespace(changed_data=["scheduled_delivery"]), change=True
    )

    assert FlowDelivery.objects.get(pk=ro.pk).scheduled_delivery == promised
