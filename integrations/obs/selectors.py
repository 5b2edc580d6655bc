"""Reads of the OBS integration: where a shop's updates go, what the board shows."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Prefetch, QuerySet
from django.utils import timezone

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
    the id of its newest pending one (a values_list of ids)."""
    return (
        Notification.objects.filter(state=Notification.State.PENDING, next_attempt_at__lte=due_before)
        .order_by()
        .values("repair_order_id")
        .annotate(newest=Max("id"))
        .values_list("newest", flat=True)[:limit]
    )


def _newest_notifications(repair_order_ids: Iterable[int]) -> QuerySet[Notification]:
    newest_ids = (
        Notification.objects.filter(repair_order_id__in=list(repair_order_ids))
        .order_by()
        .values("repair_order_id")
        .annotate(newest=Max("id"))
        .values("newest")
    )
    return Notification.objects.filter(id__in=newest_ids)


def obs_problems_for(repair_order_ids: Iterable[int]) -> dict[int, str]:
    """Per RO, the OBS delivery problem to show on its card, if any: the
    newest notification failed, or has been pending for too long. ROs without
    a problem are absent. One query, whatever the number of ROs."""
    pending_since = timezone.now() - timedelta(seconds=settings.OBS_PENDING_WARNING_SECONDS)
    problems: dict[int, str] = {}
    for notification in _newest_notifications(repair_order_ids).only(
        "id", "repair_order_id", "state", "last_error", "created_at", "attempt_count"
    ):
        if notification.state == Notification.State.FAILED:
            problems[notification.repair_order_id] = (
                f"OBS update failed: {notification.last_error or 'no message'}"
            )
        elif notification.state == Notification.State.PENDING and notification.created_at < pending_since:
            reason = notification.last_error or "not sent yet"
            count = notification.attempt_count
            problems[notification.repair_order_id] = (
                f"OBS update pending since {timezone.localtime(notification.created_at):%b %d %H:%M} "
                f"({count} attempt{'s' if count != 1 else ''}): {reason}"
            )
    return problems


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
