"""Writes of the beacon integration."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.db import transaction
from django.utils import timezone

from repairs.models import RepairOrder, StageChange
from repairs.services import StaleEvent, repair_order_move

from ..models import BeaconTag, BeaconZone


class Outcome(StrEnum):
    """What became of one beacon event (SPEC §6)."""

    MOVED = "moved"
    UNCHANGED = "unchanged"
    STALE = "stale"
    UNKNOWN_BEACON = "unknown_beacon"
    UNKNOWN_ZONE = "unknown_zone"


# A reader whose clock runs ahead would otherwise date a move in the future
# and make every later read of that RO look stale until then.
MAX_CLOCK_AHEAD = timedelta(seconds=5)


@dataclass(frozen=True)
class BeaconEvent:
    shop_id: int
    beacon_id: str
    zone_id: str
    seen_at: datetime


@dataclass(frozen=True)
class BeaconOutcome:
    outcome: Outcome
    repair_order: RepairOrder | None = None


def beacon_event_apply(*, event: BeaconEvent) -> BeaconOutcome:
    """Move the tag's RO to the zone's stage, as a manual move would, unless a
    later change is already recorded for the RO (then: stale, nothing changes)."""
    tag = (
        BeaconTag.objects.filter(shop_id=event.shop_id, beacon_id=event.beacon_id, repair_order__isnull=False)
        .only("repair_order_id")
        .first()
    )
    if tag is None:
        return BeaconOutcome(Outcome.UNKNOWN_BEACON)
    zone = BeaconZone.objects.filter(shop_id=event.shop_id, zone_id=event.zone_id).only("stage_id").first()
    if zone is None:
        return BeaconOutcome(Outcome.UNKNOWN_ZONE)
    event_at = min(event.seen_at, timezone.now() + MAX_CLOCK_AHEAD)
    try:
        result = repair_order_move(
            repair_order_id=tag.repair_order_id,
            stage_id=zone.stage_id,
            source=StageChange.Source.BEACON,
            event_at=event_at,
        )
    except StaleEvent as stale:
        return BeaconOutcome(Outcome.STALE, stale.repair_order)
    except RepairOrder.DoesNotExist:
        # The RO was deleted between the tag lookup and the move.
        return BeaconOutcome(Outcome.UNKNOWN_BEACON)
    return BeaconOutcome(Outcome.MOVED if result.moved else Outcome.UNCHANGED, result.repair_order)


@transaction.atomic
def beacon_tag_pair(*, shop_id: int, repair_order_id: int, beacon_id: str) -> BeaconTag:
    """Pair the shop's tag `beacon_id` with the RO. A tag sits on one car: if
    it was on another RO it moves; the RO's previous tag is unpaired."""
    repair_order = RepairOrder.objects.select_for_update().get(pk=repair_order_id, shop_id=shop_id)
    tag, _ = BeaconTag.objects.select_for_update().get_or_create(shop_id=shop_id, beacon_id=beacon_id)
    if tag.repair_order_id == repair_order.id:
        return tag
    BeaconTag.objects.filter(repair_order=repair_order).exclude(pk=tag.pk).update(
        repair_order=None, paired_at=None
    )
    tag.repair_order = repair_order
    tag.paired_at = timezone.now()
    tag.save(update_fields=["repair_order", "paired_at"])
    return tag


@transaction.atomic
def beacon_tag_unpair(*, shop_id: int, repair_order_id: int) -> None:
    BeaconTag.objects.filter(shop_id=shop_id, repair_order_id=repair_order_id).update(
        repair_order=None, paired_at=None
    )
