"""Reads of the OBS integration: where a shop's updates go, an RO's deliveries, what the demo OBS got."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Max, Prefetch, QuerySet

from ..models import DeliveryAttempt, Notification, ObsReceivedUpdate, ObsSettings, ObsStatusMapping

RESENDABLE_STATES = (Notification.State.FAILED, Notification.State.PENDING)


@dataclass(frozen=True)
class ObsTarget:
    enabled: bool
    url: str
    api_key: str


def obs_target_for(*, shop_id: int) -> ObsTarget:
    """The shop's OBS endpoint: its overrides, else the global settings."""
    own = ObsSettings.objects.filter(shop_id=shop_id).first()
    return ObsTarget(
        enabled=own.enabled if own else True,
        url=(own.update_url if own and own.update_url else settings.OBS_UPDATE_URL),
        api_key=(own.api_key if own and own.api_key else settings.OBS_API_KEY),
    )


def obs_enabled_for(*, shop_id: int) -> bool:
    return not ObsSettings.objects.filter(shop_id=shop_id, enabled=False).exists()


def obs_status_for(*, shop_id: int, stage_id: int) -> str:
    """OBS's status text for a stage: the shop's mapping, else the stage id."""
    mapped = (
        ObsStatusMapping.objects.filter(shop_id=shop_id, stage_id=stage_id)
        .values_list("obs_status", flat=True)
        .first()
    )
    return mapped or str(stage_id)


def notifications_due_newest(*, due_before: datetime, limit: int) -> QuerySet[Notification]:
    """The sweep's read: per RO with a pending notification due before `due_before`,
    the id of its newest pending one (a values_list of ids); notification_pending_due_idx."""
    return (
        Notification.objects.filter(state=Notification.State.PENDING, next_attempt_at__lte=due_before)
        .order_by()
        .values("repair_order_id")
        .annotate(newest=Max("id"))
        .values_list("newest", flat=True)[:limit]
    )


def obs_deliveries_for(*, repair_order_id: int) -> list[Notification]:
    """An RO's notifications, newest first, each with its attempts and a
    `resendable` flag: only the newest one may be re-sent (an older one
    would put OBS on an older stage than the RO's)."""
    notifications = list(
        Notification.objects.filter(repair_order_id=repair_order_id)
        .select_related("stage", "stage_change")
        .prefetch_related(
            Prefetch("attempts", queryset=DeliveryAttempt.objects.order_by("-attempted_at", "-id"))
        )
        .order_by("-id")
    )
    for index, notification in enumerate(notifications):
        notification.resendable = index == 0 and notification.state in RESENDABLE_STATES
    return notifications


def obs_received_updates(*, limit: int = 200) -> QuerySet[ObsReceivedUpdate]:
    return ObsReceivedUpdate.objects.order_by("-received_at", "-id")[:limit]
