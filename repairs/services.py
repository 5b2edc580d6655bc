"""Every write of the domain but the batch (repairs/batch/). Callers validate input, call one service, render."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .live import board_changed
from .models import (
    Membership,
    Person,
    RepairOrder,
    RepairTeamMember,
    Shop,
    Stage,
    StageChange,
    time_zone_validate,
)
from .people import PERSON_FIELDS, PersonFields, person_fields_merge
from .signals import repair_orders_updated, stage_changed


class StaleVersion(Exception):
    """The caller's version is not the RO's: someone changed it meanwhile."""

    def __init__(self, repair_order: RepairOrder):
        super().__init__(f"RO {repair_order.repair_number} is at version {repair_order.version}.")
        self.repair_order = repair_order


class StaleEvent(Exception):
    """A reported event is older than the RO's latest recorded stage change."""

    def __init__(self, repair_order: RepairOrder):
        super().__init__(f"RO {repair_order.repair_number} changed stage after that event.")
        self.repair_order = repair_order


@dataclass(frozen=True)
class MoveResult:
    repair_order: RepairOrder
    stage_change: StageChange | None  # None when the RO already was in that stage

    @property
    def moved(self) -> bool:
        return self.stage_change is not None


@transaction.atomic
def repair_order_move(
    *,
    repair_order_id: int,
    stage_id: int,
    source: StageChange.Source,
    user: AbstractBaseUser | None = None,
    expected_version: int | None = None,
    event_at: datetime | None = None,
) -> MoveResult:
    """Move an RO to a stage: the one way any stage change happens.

    Locks the RO row so concurrent moves serialise; `expected_version` (the
    board's) turns a lost update into StaleVersion. `event_at` is for sources
    that report the past (beacons): the move is refused with StaleEvent when
    a later change is already recorded for the RO, and the change is dated
    when it happened. Returns the RO as stored afterwards.
    """
    # No select_related here: under READ COMMITTED, PostgreSQL re-checks a
    # locked row's join after waiting for a concurrent move, sees the new
    # stage_id against the old stage row and drops the row (DoesNotExist).
    ro = RepairOrder.objects.select_for_update().get(pk=repair_order_id)
    if expected_version is not None and ro.version != expected_version:
        raise StaleVersion(ro)
    if event_at is not None and event_at < ro.stage_entered_at:
        raise StaleEvent(ro)
    stage = Stage.objects.get(pk=stage_id)
    if ro.stage_id == stage.id:
        return MoveResult(ro, None)
    now = event_at or timezone.now()
    change = StageChange.objects.create(
        repair_order=ro,
        from_stage_id=ro.stage_id,
        to_stage=stage,
        changed_at=now,
        changed_by=user if user is not None and user.is_authenticated else None,
        source=source,
    )
    RepairOrder.objects.filter(pk=ro.pk).update(
        stage=stage, stage_entered_at=now, version=F("version") + 1, updated_at=timezone.now()
    )
    ro.refresh_from_db()
    stage_changed.send(sender=RepairOrder, repair_order=ro, stage_change=change)
    # Last: the board version's row lock is the last lock any writer takes (repairs.live).
    ro.board_version = board_changed(shop_id=ro.shop_id, repair_order_ids=[ro.pk])
    return MoveResult(ro, change)


@transaction.atomic
def shop_create_or_update(*, shop_id: int, name: str) -> tuple[Shop, bool]:
    shop, created = Shop.objects.update_or_create(id=shop_id, defaults={"name": name})
    return shop, created


@transaction.atomic
def membership_grant(*, username: str, shop_id: int, role: str, password: str | None = None):
    """Create the user if needed and set their role in one shop. Returns (user, created)."""
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username)
    if password is not None:
        user.set_password(password)
        user.save(update_fields=["password"])
    Membership.objects.update_or_create(user=user, shop_id=shop_id, defaults={"role": role})
    return user, created


class TeamMemberConflict(Exception):
    """The person is not of the RO's shop."""


def _repair_order_touch(*, shop_id: int, repair_order_ids) -> None:
    # A team change is a change of the RO (SPEC §4 `version`): the board's
    # optimistic lock, the read API's `updated_since` and open boards must see it.
    repair_order_ids = sorted(set(repair_order_ids))
    if not repair_order_ids:
        return
    RepairOrder.objects.filter(pk__in=repair_order_ids).update(
        version=F("version") + 1, updated_at=timezone.now()
    )
    repair_orders_updated.send(sender=RepairOrder, repair_order_ids=repair_order_ids)
    board_changed(shop_id=shop_id, repair_order_ids=repair_order_ids)


@transaction.atomic
def repair_team_member_add(
    *,
    repair_order_id: int,
    person_id: int | None = None,
    external_id: str | None = None,
    person_fields: PersonFields | None = None,
) -> Person:
    """Add a person to an RO's team: an existing person of the shop (`person_id`),
    or one given by the source system's employee id (`external_id`).

    An `external_id` the shop already knows is that person: the fields given
    in `person_fields` replace theirs, the others are kept (repairs.people, the
    batch API's rule). Adding someone already on the team changes nothing but
    their details.
    """
    ro = RepairOrder.objects.select_for_update().get(pk=repair_order_id)
    touched: set[int] = set()
    if person_id is not None:
        person = Person.objects.filter(shop_id=ro.shop_id, pk=person_id).first()
        if person is None:
            raise TeamMemberConflict(f"Person {person_id} is not of shop {ro.shop_id}.")
    else:
        if not external_id:
            raise ValueError("person_id or external_id is required")
        person, created = Person.objects.select_for_update().get_or_create(
            shop_id=ro.shop_id,
            external_id=external_id,
            defaults=person_fields_merge(stored=None, given=person_fields or {}),
        )
        if not created and _person_fields_set(person, person_fields or {}):
            touched.update(person.team_links.values_list("repair_order_id", flat=True))
    last = ro.team_links.order_by("-position").values_list("position", flat=True).first()
    _, created = RepairTeamMember.objects.get_or_create(
        repair_order=ro, person=person, defaults={"position": 0 if last is None else last + 1}
    )
    if created:
        touched.add(ro.pk)
    _repair_order_touch(shop_id=ro.shop_id, repair_order_ids=touched)
    return person


def _person_fields_set(person: Person, given: PersonFields) -> bool:
    """Apply the given fields to a locked person (repairs.people); whether anything changed."""
    stored = {name: getattr(person, name) for name in PERSON_FIELDS}
    merged = person_fields_merge(stored=stored, given=given)
    if merged == stored:
        return False
    for name, value in merged.items():
        setattr(person, name, value)
    person.save(update_fields=[*PERSON_FIELDS, "updated_at"])
    return True


@transaction.atomic
def repair_team_member_remove(*, repair_order_id: int, person_id: int) -> bool:
    """Take a person off an RO's team (the person stays in the shop). Returns whether they were on it."""
    ro = RepairOrder.objects.select_for_update().get(pk=repair_order_id)
    deleted, _ = RepairTeamMember.objects.filter(repair_order=ro, person_id=person_id).delete()
    if deleted:
        _repair_order_touch(shop_id=ro.shop_id, repair_order_ids=[ro.pk])
    return bool(deleted)


@transaction.atomic
def person_update(*, shop_id: int, person_id: int, person_fields: PersonFields) -> Person:
    """Change a team member's details (the fields given; repairs.people): every RO
    they are on changes with them."""
    person = Person.objects.select_for_update().get(shop_id=shop_id, pk=person_id)
    if _person_fields_set(person, person_fields):
        _repair_order_touch(
            shop_id=shop_id, repair_order_ids=person.team_links.values_list("repair_order_id", flat=True)
        )
    return person


@transaction.atomic
def shop_settings_update(
    *, shop_id: int, days_in_stage_amber: int, days_in_stage_red: int, time_zone: str | None = None
) -> Shop:
    """The shop's day-counter thresholds and (when given) its time zone, the flow figures' days."""
    if not 0 < days_in_stage_amber < days_in_stage_red:
        raise ValueError("0 < amber < red is required")
    shop = Shop.objects.select_for_update().get(pk=shop_id)
    if time_zone is not None:
        time_zone_validate(time_zone)
        shop.time_zone = time_zone
    shop.days_in_stage_amber, shop.days_in_stage_red = days_in_stage_amber, days_in_stage_red
    shop.save(update_fields=["days_in_stage_amber", "days_in_stage_red", "time_zone"])
    # The thresholds colour every card: open boards load the whole board once.
    board_changed(shop_id=shop.id, repair_order_ids=[], redraw=True)
    return shop
