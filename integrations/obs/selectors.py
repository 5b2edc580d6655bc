"""Reads of the OBS integration: where a shop's updates go, an RO's deliveries, what the demo OBS got."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet

from ..delivery.models import Destination, Message
from ..delivery.selectors import delivery_log
from ..models import ObsReceivedUpdate, ObsSettings, ObsStatusMapping


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


def obs_deliveries_for(*, repair_order_id: int) -> list[Message]:
    """An RO's notifications for the delivery log, newest first, each with its
    attempts and a `resendable` flag: only the newest one may be re-sent (an
    older one would put OBS on an older stage than the RO's)."""
    return delivery_log(destination=Destination.OBS, repair_order_id=repair_order_id, limit=None)


def obs_received_updates(*, limit: int = 200) -> QuerySet[ObsReceivedUpdate]:
    return ObsReceivedUpdate.objects.order_by("-received_at", "-id")[:limit]
