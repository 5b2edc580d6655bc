"""Every write of the domain. Callers validate input, call one service, render."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import Membership, RepairOrder, Shop, Stage, StageChange
from .signals import stage_changed


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
    source: str,
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
