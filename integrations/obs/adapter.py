"""OBS as a destination of the one delivery engine (SPEC §5).

Latest-only: OBS keeps one status per event, so only an RO's newest stage
change matters; the body is built at send time from the shop's settings
(URL, key, on/off) and its status mapping, as SPEC §5 says.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max
from django.urls import reverse

from ..delivery.adapters import Refused, SendResult
from ..delivery.models import Destination, Message
from ..delivery.policy import RetryPolicy
from . import transport
from .board import board_badge_watch, board_badges_watch
from .schedule import obs_retry_policy
from .selectors import obs_status_for, obs_target_for

# card_may_change: how far from showing "pending too long" a delivered notification must be.
BADGE_MARGIN_SECONDS = 60
# What a person may send again (the RO's newest only, see resend_refusal).
RESENDABLE_STATES = (Message.State.FAILED, Message.State.PENDING)


@dataclass(frozen=True)
class ObsUpdate:
    url: str
    api_key: str
    obs_event_id: str
    status: str


class ObsAdapter:
    kind = Destination.OBS
    latest_only = True

    def policy(self) -> RetryPolicy:
        return obs_retry_policy()

    def lease_seconds(self) -> float:
        # Connect and read timeouts of one call, and room to record it.
        return settings.OBS_TIMEOUT_SECONDS * 2 + 5

    def sweep_grace_seconds(self) -> float:
        return settings.OBS_SWEEP_GRACE_SECONDS

    def prepare(self, message: Message, now: datetime) -> ObsUpdate:
        shop_id = message.repair_order.shop_id  # loaded with the claimed message
        target = obs_target_for(shop_id=shop_id)
        if not target.enabled:
            raise Refused("OBS is switched off for this shop.")
        return ObsUpdate(
            url=target.url,
            api_key=target.api_key,
            obs_event_id=message.obs_event_id,
            status=obs_status_for(shop_id=shop_id, stage_id=message.stage_id),
        )

    def send(self, prepared: ObsUpdate, message: Message) -> SendResult:
        try:
            result = transport.post_update(
                url=prepared.url,
                api_key=prepared.api_key,
                obs_event_id=prepared.obs_event_id,
                status=prepared.status,
                timeout=settings.OBS_TIMEOUT_SECONDS,
            )
        except transport.TransportError as error:
            return SendResult(
                delivered=False,
                http_status=error.http_status,
                error=error.message,
                response_excerpt="",
                duration_ms=error.duration_ms,
                permanent=error.permanent,
                retry_after_seconds=error.retry_after_seconds,
            )
        return SendResult(
            delivered=True,
            http_status=result.http_status,
            error="",
            response_excerpt=result.message,
            duration_ms=result.duration_ms,
        )

    def on_delivered(self, message: Message, now: datetime) -> None:
        pass

    def on_failure(self, message: Message, result: SendResult, attempted_at: datetime, now: datetime) -> bool:
        return False

    def resend_refusal(self, message: Message, *, newest: bool | None = None) -> str:
        """Only an RO's newest notification may go out again: an older one
        would put OBS on an older stage than the RO's. (`newest`: whether it
        is, when the caller knows.)"""
        if newest is None:
            newest_id = Message.objects.filter(
                destination=Destination.OBS, repair_order_id=message.repair_order_id
            ).aggregate(m=Max("id"))["m"]
            newest = message.id == newest_id
        if not newest:
            return "A newer stage change was recorded since; re-sending this one would put OBS on an older stage."
        if message.state not in RESENDABLE_STATES:
            return f"This notification is {message.get_state_display().lower()}."
        return ""

    def resend_url(self, message: Message, *, shop_id: int) -> str:
        return reverse("obs_notification_resend", args=[shop_id, message.repair_order_id, message.id])

    def card_watch(self, repair_order_id: int | None):
        # A card shows its RO's newest notification's problem (board.py).
        return board_badge_watch(repair_order_id)

    def cards_watch(self, repair_order_ids: list[int]):
        return board_badges_watch(repair_order_ids)

    def card_may_change(self, message: Message, *, delivered: bool, now: datetime) -> bool:
        """A card shows its RO's newest notification's problem: failed, or
        pending for longer than OBS_PENDING_WARNING_SECONDS (board.py). The
        delivery of the newest one, pending for less than that (less a
        minute's margin), shows nothing before and nothing after: the two
        reads of board_badges_watch would only find that out. Anything
        else (a failure, a retry, an older message, an old one) may change it."""
        if not delivered or getattr(message, "newer_exists", True):
            return True
        quiet_since = now - timedelta(seconds=settings.OBS_PENDING_WARNING_SECONDS - BADGE_MARGIN_SECONDS)
        return message.created_at <= quiet_since


OBS_ADAPTER = ObsAdapter()
