"""The demo's flow history: believable, consistent, and written once."""

from datetime import timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from django.db.models import F
from django.utils import timezone

from repairs.demo import demo_load
from repairs.demo_history import demo_history_load
from repairs.flow import FlowPeriod, flow_figures
from repairs.models import RepairOrder, StageChange


@pytest.fixture
def demo_shop(db):
    return demo_load(shops={33: "Baggins Body Shop"})[0]


def test_demo_history_is_believable_and_consistent(demo_shop):
    added = demo_history_load(shop_ids=[33])

    assert 300 < added < 900  # about six months of 2–6 arrivals a weekday
    zone = ZoneInfo(demo_shop.time_zone)
    arrivals = StageChange.objects.filter(
        repair_order__shop=demo_shop, repair_order__status="Closed", to_stage_id=2, from_stage_id=1
    )
    assert {c.changed_at.astimezone(zone).weekday() for c in arrivals} <= {0, 1, 2, 3, 4}
    assert (
        StageChange.objects.filter(repair_order__shop=demo_shop, from_stage_id=10, to_stage_id=7).count() > 5
    )
    closed = RepairOrder.objects.filter(shop=demo_shop, status="Closed")
    assert closed.count() == added and not closed.exclude(stage_id=14).exists()
    late = closed.filter(stage_entered_at__gt=F("scheduled_delivery")).count()
    assert 0.05 < late / added < 0.5
    # Every RO's history is a chain: created in stage 1, each change leaving the stage the last one entered,
    # the last one entering the stage it is in now, when it entered it.
    for ro in RepairOrder.objects.filter(shop=demo_shop):
        chain = list(
            ro.stage_changes.order_by("changed_at", "id").values_list(
                "from_stage_id", "to_stage_id", "changed_at"
            )
        )
        assert chain[0][:2] == (None, 1), ro
        assert all(b[0] == a[1] and b[2] > a[2] for a, b in pairwise(chain)), ro
        assert (chain[-1][1], chain[-1][2]) == (ro.stage_id, ro.stage_entered_at), ro


def test_demo_history_gives_the_flow_page_real_figures(demo_shop):
    demo_history_load(shop_ids=[33])
    today = timezone.now().astimezone(ZoneInfo(demo_shop.time_zone)).date()
    figures = flow_figures(
        FlowPeriod(
            shop_id=33,
            time_zone=demo_shop.time_zone,
            date_from=today - timedelta(days=89),
            date_to=today,
            now=timezone.now(),
        )
    )
    assert figures["delivered"] > 100
    assert 3 * 86400 < figures["cycle_time_seconds"]["median"] < 30 * 86400
    assert 0.5 < figures["on_time"]["rate"] < 0.95
    assert all(s["visits"] > 0 for s in figures["stages"] if s["stage_id"] != 14)
    assert sum(figures["wip"][-1]["stages"].values()) == RepairOrder.objects.filter(shop_id=33).count()


def test_demo_history_is_written_once(demo_shop, django_assert_max_num_queries):
    demo_history_load(shop_ids=[33])
    before = StageChange.objects.count()
    with django_assert_max_num_queries(4):  # savepoint, the shop, whether its history is there
        assert demo_history_load(shop_ids=[33]) == 0
    assert StageChange.objects.count() == before
