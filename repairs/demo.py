"""Demo data for a newcomer's first run: shops, people, logins, and ROs in every stage.

One function per concern, so the demo can grow (more history, more shops)
without rewriting it:

- `demo_shop_ensure`, `demo_people_ensure`, `demo_logins_ensure`: who is there;
- `demo_stage_plan`: which stage each RO of a shop is in (every stage gets cars);
- `demo_timeline`: when an RO was booked, arrived, and entered each stage of its path;
- `demo_repair_order_create`: one RO with its team and the stage history that explains it.

The story each RO tells is coherent: it was booked (stage 1, a `system`
change) before it arrived; a car past stage 1 left it when it arrived, then
moved forward stage by stage on the board, each move after the one before;
its stage and `stage_entered_at` are those of its last move and its version
counts them. A car still in stage 1 is due to arrive in the coming days.
Everything is drawn from a seeded random generator: the same demo every run.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from .flow_summaries import flow_summaries_refresh
from .models import Person, RepairOrder, RepairTeamMember, Shop, Stage, StageChange
from .services import membership_grant

DEMO_SHOPS = {33: "Baggins Body Shop", 44: "Sackville Collision"}
# Username and role: each login has that role in every demo shop.
DEMO_LOGINS = [("manager", "manager"), ("estimator", "estimator"), ("viewer", "viewer")]
DEMO_PASSWORD = "shopboard-demo"

VEHICLES = [
    (2019, "Toyota", "Camry", "Silver"),
    (2021, "Honda", "Civic", "Blue"),
    (2018, "Ford", "F-150", "Black"),
    (2020, "Chevrolet", "Silverado", "Red"),
    (2022, "Tesla", "Model 3", "White"),
    (2017, "Subaru", "Outback", "Green"),
    (2016, "Nissan", "Altima", "Grey"),
    (2023, "Hyundai", "Tucson", "Blue"),
    (2015, "Jeep", "Wrangler", "Orange"),
    (2020, "BMW", "X3", "Black"),
    (2019, "Kia", "Soul", "Yellow"),
    (2021, "Mazda", "CX-5", "Red"),
]
CUSTOMERS = [
    ("Bilbo", "Baggins"),
    ("Frodo", "Baggins"),
    ("Samwise", "Gamgee"),
    ("Rosie", "Cotton"),
    ("Peregrin", "Took"),
    ("Lobelia", "Sackville"),
    ("Farmer", "Maggot"),
    ("Fredegar", "Bolger"),
    ("Esmeralda", "Brandybuck"),
]
INSURERS = ["State Farm", "GEICO", "Progressive", "Allstate", "USAA", None]
STAFF = [
    ("4849843", "Meriadoc", "Brandybuck", "Estimator"),
    ("4849844", "Hamfast", "Gamgee", "Body Technician"),
    ("4849845", "Daisy", "Boffin", "Painter"),
    ("4849846", "Otho", "Bracegirdle", "Detailer"),
    ("4849847", "Ponto", "Proudfoot", "Mechanic"),
]
# Hours a car typically spends in a stage before moving on (exponential).
MEAN_HOURS_IN_STAGE = 20
# Not every car needs mechanical work: the share that skips that stage.
SKIP_MECHANICAL = 0.5
MECHANICAL = "MECHANICAL"


@dataclass(frozen=True)
class Timeline:
    booked_at: datetime
    arrival: datetime  # in the future for a car still in stage 1
    entered: list[tuple[Stage, datetime]]  # each stage of the path from the first, when entered
    stages_to_go: int  # stages after the current one on the board


@transaction.atomic
def demo_load(*, shops: dict[int, str] = DEMO_SHOPS, ros_per_shop: int = 36, seed: int = 7) -> list[Shop]:
    """Create (or top up) the demo shops with ROs in every stage. Idempotent:
    an RO whose number exists is left as it is."""
    rng = random.Random(seed)
    now = timezone.now()
    stages = list(Stage.objects.order_by("position"))
    loaded = []
    for shop_id, name in shops.items():
        shop = demo_shop_ensure(shop_id=shop_id, name=name)
        people = demo_people_ensure(shop=shop)
        existing = set(shop.repair_orders.values_list("repair_number", flat=True))
        for i, stage in enumerate(demo_stage_plan(rng=rng, stages=stages, count=ros_per_shop)):
            number = f"{shop_id}{i + 1:04d}"
            if number not in existing:
                timeline = demo_timeline(rng=rng, stages=stages, stage=stage, now=now)
                demo_repair_order_create(
                    shop=shop, number=number, timeline=timeline, people=people, rng=rng, now=now
                )
        loaded.append(shop)
    return loaded


def demo_shop_ensure(*, shop_id: int, name: str) -> Shop:
    return Shop.objects.get_or_create(id=shop_id, defaults={"name": name})[0]


def demo_people_ensure(*, shop: Shop) -> list[Person]:
    return [
        Person.objects.update_or_create(
            shop=shop,
            external_id=external_id,
            defaults={"first_name": first, "last_name": last, "title": title},
        )[0]
        for external_id, first, last, title in STAFF
    ]


def demo_logins_ensure(*, shops: list[Shop]) -> None:
    """The demo logins, each with its role in every demo shop. The password
    (DEMO_PASSWORD) is set when a login is created, hashed once for all of
    them: hashing is slow by design, and a second `make run` should not pay
    for it again."""
    users = get_user_model().objects
    usernames = [username for username, _ in DEMO_LOGINS]
    existing = set(users.filter(username__in=usernames).values_list("username", flat=True))
    for username, role in DEMO_LOGINS:
        for shop in shops:
            membership_grant(username=username, shop_id=shop.id, role=role)
    if new := [username for username in usernames if username not in existing]:
        users.filter(username__in=new).update(password=make_password(DEMO_PASSWORD))


def demo_stage_plan(*, rng: random.Random, stages: list[Stage], count: int) -> list[Stage]:
    """The stage of each of `count` ROs: one in every stage first (so every
    column of the board has cars), the rest mostly in production, a few
    waiting or done."""
    plan = list(stages[:count])
    for _ in range(count - len(plan)):
        plan.append(stages[min(int(rng.triangular(0, len(stages), 6)), len(stages) - 1)])
    rng.shuffle(plan)
    return plan


def demo_timeline(*, rng: random.Random, stages: list[Stage], stage: Stage, now: datetime) -> Timeline:
    """When an RO in `stage` was booked, arrived and entered each stage of its
    path, counted back from now: the current stage last, each stage a few
    hours to a few days before the next, arrival when it left stage 1."""
    path = _stage_path(rng=rng, stages=stages, stage=stage)
    stages_to_go = len(stages) - 1 - stages.index(stage)
    if len(path) == 1:  # still booked: due in the coming days
        booked_at = now - timedelta(hours=rng.randint(2, 96))
        arrival = now + timedelta(hours=rng.randint(4, 120))
        return Timeline(booked_at, arrival, [(path[0], booked_at)], stages_to_go)
    # Most cars move on within a day or two; a few get stuck.
    moments = [now - timedelta(hours=min(1 + rng.expovariate(1 / 30), 24 * 12))]
    for _ in path[1:-1]:
        moments.append(moments[-1] - timedelta(hours=0.5 + rng.expovariate(1 / MEAN_HOURS_IN_STAGE)))
    moments.reverse()  # moments[i]: when path[i + 1] was entered; moments[0] is the arrival
    arrival = moments[0]
    booked_at = arrival - timedelta(days=rng.randint(1, 10), hours=rng.randint(0, 8))
    entered = [(path[0], booked_at), *zip(path[1:], moments, strict=True)]
    return Timeline(booked_at, arrival, entered, stages_to_go)


def _stage_path(*, rng: random.Random, stages: list[Stage], stage: Stage) -> list[Stage]:
    """The stages a car went through to reach `stage`, in board order."""
    path = stages[: stages.index(stage) + 1]
    if stage.name != MECHANICAL and rng.random() < SKIP_MECHANICAL:
        path = [s for s in path if s.name != MECHANICAL]
    return path


def demo_repair_order_create(
    *, shop: Shop, number: str, timeline: Timeline, people: list[Person], rng: random.Random, now: datetime
) -> RepairOrder:
    """One RO with its team, its stage history and dates that agree with it."""
    stage, entered_at = timeline.entered[-1]
    year, make, model, color = rng.choice(VEHICLES)
    first, last = rng.choice(CUSTOMERS)
    delivery = _scheduled_delivery(rng=rng, timeline=timeline, now=now)
    ro = RepairOrder.objects.create(
        shop=shop,
        repair_number=number,
        stage=stage,
        stage_entered_at=entered_at,
        status="Active",
        scheduled_arrival=timeline.arrival,
        scheduled_complete=delivery - timedelta(days=1),
        scheduled_delivery=delivery,
        obs_event_id=f"{rng.getrandbits(32):08X}-{rng.getrandbits(16):04X}-{rng.getrandbits(16):04X}-"
        f"{rng.getrandbits(64):016X}"[:35],
        rental_car=rng.random() < 0.4,
        total_estimated_hours=Decimal(rng.randint(4, 80)) / 2,
        vehicle_year=year,
        vehicle_make=make,
        vehicle_model=model,
        vehicle_color=color,
        customer_first_name=first,
        customer_last_name=last,
        customer_email=f"{first.lower()}.{last.lower()}@example.com",
        customer_phone_number=f"555{rng.randint(1000000, 9999999)}",
        insurance_name=rng.choice(INSURERS),
        # Created at version 1, and every move since bumped it.
        version=len(timeline.entered),
    )
    # auto_now_add/auto_now would say "today": the RO was booked earlier.
    RepairOrder.objects.filter(pk=ro.pk).update(created_at=timeline.booked_at, updated_at=entered_at)
    _stage_history_create(repair_order=ro, timeline=timeline)
    RepairTeamMember.objects.bulk_create(
        RepairTeamMember(repair_order=ro, person=person, position=position)
        for position, person in enumerate(rng.sample(people, rng.randint(1, 3)))
    )
    return ro


def _stage_history_create(*, repair_order: RepairOrder, timeline: Timeline) -> None:
    """Booked into the first stage by the source system, then moved on the board."""
    changes = [
        StageChange(
            repair_order=repair_order,
            from_stage=None,
            to_stage=timeline.entered[0][0],
            changed_at=timeline.booked_at,
            source=StageChange.Source.API,
        )
    ]
    for (before, _), (after, at) in zip(timeline.entered, timeline.entered[1:], strict=False):
        changes.append(
            StageChange(
                repair_order=repair_order,
                from_stage=before,
                to_stage=after,
                changed_at=at,
                source=StageChange.Source.BOARD,
            )
        )
    StageChange.objects.bulk_create(changes)
    flow_summaries_refresh(repair_order_ids=[repair_order.pk])


def _scheduled_delivery(*, rng: random.Random, timeline: Timeline, now: datetime) -> datetime:
    """The promised delivery: about a working day per stage still to go (a
    delivered car was promised about when it left); about one car in eight
    runs late, its promise already past."""
    entered_at = timeline.entered[-1][1]
    if timeline.stages_to_go == 0:  # delivered and closed
        promised = entered_at - timedelta(hours=rng.randint(0, 24))
    elif rng.random() < 0.12:
        promised = now - timedelta(days=rng.randint(1, 3), hours=rng.randint(0, 8))
    else:
        promised = now + timedelta(
            days=0.8 * timeline.stages_to_go + rng.random() * 2, hours=rng.randint(1, 8)
        )
    # The shop never promises a car back within two days of its arrival.
    return max(promised, timeline.arrival + timedelta(days=2))
