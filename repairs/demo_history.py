"""Six months of believable stage history for the demo shops, so the flow page has something to show.

Cars arrive on weekdays, go through the stages (some skip MECHANICAL, some go
back to BODY after REASSEMBLY), and most leave within their promised date.
Finished cars are Closed, so the board keeps showing only the demo's current
cars; those current cars (ROs with no recorded history) get a history that
ends where they are now. Written with bulk inserts, once: a shop that already
has its history is left alone, so a second `seed_demo` costs one query per shop.
"""

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from .demo import CUSTOMERS, INSURERS, VEHICLES
from .flow_summaries import flow_summaries_refresh
from .models import RepairOrder, Shop, StageChange
from .stages import DELIVERED_STAGE_ID, FIRST_STAGE_ID, STAGES

HISTORY_DAYS = 182
NUMBER_PREFIX = "H"
CLOSED = "Closed"
WORKDAY_START, WORKDAY_END = 7, 18
# Hours a car typically spends in each stage (low, high), by stage id; MECHANICAL is often skipped.
STAGE_HOURS = {
    2: (1, 6),
    3: (1, 5),
    4: (3, 20),
    5: (3, 20),
    6: (6, 70),
    7: (20, 110),
    8: (6, 40),
    9: (14, 50),
    10: (6, 24),
    11: (2, 8),
    12: (1, 4),
    13: (3, 40),
    15: (10, 40),
}
PRODUCTION_ORDER = [stage_id for _, stage_id, _ in STAGES][1:-1]  # VEHICLE ARRIVE … DELIVERY UNCONFIRMED
BODY, MECHANICAL, REFINISH, REASSEMBLY = 7, 8, 9, 10
REWORK = [BODY, REFINISH, REASSEMBLY]


@dataclass
class _Car:
    path: list[tuple[int, datetime]]  # (stage id, entered at), creation first
    promised: datetime


def _work_time(moment: datetime, zone: ZoneInfo, rng: random.Random) -> datetime:
    """The moment, or the next weekday morning if the shop is closed then."""
    local = moment.astimezone(zone)
    if local.weekday() < 5 and WORKDAY_START <= local.hour < WORKDAY_END:
        return moment
    day = local.date() + timedelta(days=1 if local.hour >= WORKDAY_END else 0)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    opening = datetime.combine(day, time(WORKDAY_START), tzinfo=zone)
    return opening + timedelta(minutes=rng.randint(0, 90))


def _car(arrival: datetime, zone: ZoneInfo, rng: random.Random) -> _Car:
    stages = [s for s in PRODUCTION_ORDER if not (s == MECHANICAL and rng.random() < 0.55)]
    if rng.random() < 0.08:  # a comeback: found at reassembly, back to body for rework
        at = stages.index(REASSEMBLY) + 1
        stages[at:at] = REWORK
    created = arrival - timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 6))
    path, at = [(FIRST_STAGE_ID, created)], arrival
    for stage_id in stages:
        path.append((stage_id, at))
        low, high = STAGE_HOURS[stage_id]
        at = _work_time(at + timedelta(hours=rng.triangular(low, high, low + (high - low) / 4)), zone, rng)
    path.append((DELIVERED_STAGE_ID, at))
    # The promise is the estimator's guess: usually generous, late for about one car in five.
    promised = arrival + (at - arrival) * rng.uniform(0.75, 1.45)
    return _Car(path, promised.astimezone(zone).replace(hour=17, minute=0, second=0, microsecond=0))


def _path_to(ro: RepairOrder, zone: ZoneInfo, rng: random.Random) -> list[tuple[int, datetime]]:
    """A history for a current car that ends with it entering its stage at stage_entered_at."""
    position = [s for _, s, _ in STAGES].index(ro.stage_id)
    entered = ro.stage_entered_at
    if position == 0:
        return [(FIRST_STAGE_ID, entered)]
    before = [s for _, s, _ in STAGES][1:position]
    step = timedelta(hours=rng.uniform(5, 20))
    start = entered - step * (len(before) + 1)
    path = [(FIRST_STAGE_ID, start - timedelta(days=rng.randint(1, 4)))]
    path += [(stage_id, start + step * i) for i, stage_id in enumerate(before)]
    return [*path, (ro.stage_id, entered)]


def _changes(ro_id: int, path: list[tuple[int, datetime]]) -> list[StageChange]:
    changes, previous = [], None
    for stage_id, at in path:
        changes.append(StageChange(repair_order_id=ro_id, from_stage_id=previous, to_stage_id=stage_id,
                                   changed_at=at, source=StageChange.Source.BOARD))  # fmt: skip
        previous = stage_id
    return changes


@transaction.atomic
def demo_history_load(*, shop_ids: list[int], days: int = HISTORY_DAYS, seed: int = 11) -> int:
    """Closed cars of the last `days` with their histories, for each shop that has none yet; returns ROs added."""
    now = timezone.now()
    added = 0
    for shop in Shop.objects.filter(pk__in=shop_ids).order_by("id"):
        if RepairOrder.objects.filter(shop=shop, repair_number__startswith=NUMBER_PREFIX).exists():
            continue
        rng = random.Random(seed + shop.id)
        zone = ZoneInfo(shop.time_zone)
        ros, paths = [], []
        day = (now - timedelta(days=days)).astimezone(zone).date()
        while day <= now.astimezone(zone).date():
            for _ in range(rng.randint(2, 6) if day.weekday() < 5 else 0):
                arrival = datetime.combine(day, time(7, 30), tzinfo=zone) + timedelta(
                    minutes=rng.randint(0, 180)
                )
                car = _car(arrival, zone, rng)
                if car.path[-1][1] > now:  # still in the shop: the demo's current cars play those
                    continue
                year, make, model, color = rng.choice(VEHICLES)
                first, last = rng.choice(CUSTOMERS)
                ros.append(RepairOrder(
                    shop=shop, repair_number=f"{NUMBER_PREFIX}{shop.id}-{len(ros) + 1:05d}",
                    stage_id=DELIVERED_STAGE_ID, stage_entered_at=car.path[-1][1], status=CLOSED,
                    scheduled_arrival=arrival, scheduled_delivery=car.promised,
                    vehicle_year=year, vehicle_make=make, vehicle_model=model, vehicle_color=color,
                    customer_first_name=first, customer_last_name=last, insurance_name=rng.choice(INSURERS),
                ))  # fmt: skip
                paths.append(car.path)
            day += timedelta(days=1)
        created = RepairOrder.objects.bulk_create(ros, batch_size=500)
        changes = [c for ro, path in zip(created, paths, strict=True) for c in _changes(ro.id, path)]
        # The demo's current cars, created without a history: one that ends where they are.
        current = RepairOrder.objects.filter(shop=shop).exclude(repair_number__startswith=NUMBER_PREFIX)
        for ro in current.filter(~Exists(StageChange.objects.filter(repair_order=OuterRef("pk")))):
            changes += _changes(ro.id, _path_to(ro, zone, rng))
        StageChange.objects.bulk_create(changes, batch_size=2000)
        flow_summaries_refresh(repair_order_ids={change.repair_order_id for change in changes})
        added += len(created)
    return added
