"""Writes of the OBS integration: record, deliver, re-send, sweep (SPEC §5).

Ordering. For one RO only the newest pending notification is ever sent;
older pending ones are marked obsolete, and a notification older than a
delivered one is obsolete too, so OBS never ends on an older stage than the
RO's. One worker at a time delivers for an RO (locks.py); the HTTP call runs
outside any database transaction, between a short "claim" transaction and a
short "record" transaction. A worker that finds the RO's lock taken leaves:
the holder looks for newer due notifications after releasing the lock, so
nothing committed meanwhile waits for the sweep.

The lock goes with the worker's connection; the order does not. Each claim
also takes the RO's lease row for longer than a call can last (locks.py),
so a worker whose connection dropped mid-call still keeps others off the RO
until it has recorded its call, on a fresh connection. Should the lease run
out first and another worker claim, this call may have landed after a newer
one: the RO's newest notification is then queued once more (a copy) and
OBS ends on the current stage.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from repairs.models import RepairOrder, StageChange

from ..models import DeliveryAttempt, Notification
from . import transport
from .board import board_badge_watch
from .locks import fence_claim, fence_release, repair_order_delivery_lock, run_reconnecting
from .queue import obs_deliver_enqueue
from .schedule import delay_after_attempt, max_attempts
from .selectors import notifications_due_newest, obs_enabled_for, obs_status_for, obs_target_for

logger = logging.getLogger(__name__)

State = Notification.State
# Rounds one delivery call may run for an RO whose stage keeps changing while
# it sends; after that its task runs again, leaving the worker to others.
MAX_ROUNDS = 5


class NotResendable(Exception):
    pass


class _HeldElsewhere(Exception):
    """Another worker's claim on the RO is still running (its lease)."""


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    RETRYING = "retrying"
    NOTHING = "nothing"  # no notification of the RO was due
    BUSY = "busy"  # another worker holds the RO (its lock or its lease)


@dataclass(frozen=True)
class DeliveryReport:
    outcome: DeliveryOutcome
    # When this call made an attempt that will be retried: when to run again.
    retry_at: datetime | None = None


@dataclass(frozen=True)
class _Claim:
    notification_id: int
    repair_order_id: int
    attempt_number: int
    last_attempt: bool
    retry_at: datetime
    url: str
    api_key: str
    obs_event_id: str
    status: str
    fence_token: int
    # When the attempt was booked, its retry time reckoned from it: kept as
    # the attempt's time, so attempts are never closer than their backoff.
    claimed_at: datetime


@transaction.atomic
def notification_record(*, repair_order: RepairOrder, stage_change: StageChange) -> Notification | None:
    """The outbox row for a stage change, in the caller's transaction, when the
    RO came from OBS and the shop reports to OBS. Queues its delivery for
    after the commit."""
    if not repair_order.obs_event_id or not obs_enabled_for(shop_id=repair_order.shop_id):
        return None
    notification = Notification.objects.create(
        repair_order=repair_order,
        stage_change=stage_change,
        obs_event_id=repair_order.obs_event_id,
        stage_id=stage_change.to_stage_id,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: obs_deliver_enqueue(notification.id))
    return notification


def notification_deliver(*, notification_id: int) -> DeliveryReport:
    """Deliver what is due for the notification's RO (its newest notification).

    Not atomic on purpose: no transaction is held while OBS answers."""
    repair_order_id = (
        Notification.objects.filter(pk=notification_id).values_list("repair_order_id", flat=True).first()
    )
    if repair_order_id is None:
        return DeliveryReport(DeliveryOutcome.NOTHING)
    outcome = DeliveryOutcome.NOTHING
    attempted = False
    for _ in range(MAX_ROUNDS):
        with repair_order_delivery_lock(repair_order_id) as acquired:
            if not acquired:
                return DeliveryReport(DeliveryOutcome.BUSY)
            try:
                claim = _claim_newest(repair_order_id)
            except _HeldElsewhere:
                return DeliveryReport(DeliveryOutcome.BUSY)
            if claim is not None:
                attempted = True
                outcome = _send(claim)
        if not run_reconnecting(lambda: _due_pending_exists(repair_order_id)):
            break
    # Whoever made the last attempt owns the next one; a call that found
    # nothing due schedules nothing, so duplicate tasks die out.
    retry_at = run_reconnecting(lambda: _next_attempt_at(repair_order_id)) if attempted else None
    return DeliveryReport(outcome, retry_at)


def _claim_newest(repair_order_id: int) -> _Claim | None:
    now = timezone.now()
    with transaction.atomic():
        pending = list(
            Notification.objects.select_for_update()
            .filter(repair_order_id=repair_order_id, state=State.PENDING)
            .order_by("id")
        )
        if not pending:
            return None
        newest = pending[-1]
        _supersede(repair_order_id, before_id=newest.id, states=[State.PENDING], now=now)
        if Notification.objects.filter(
            repair_order_id=repair_order_id, state=State.DELIVERED, id__gt=newest.id
        ).exists():
            _supersede(repair_order_id, before_id=newest.id + 1, states=[State.PENDING], now=now)
            return None
        if newest.next_attempt_at is not None and newest.next_attempt_at > now:
            return None
        shop_id = RepairOrder.objects.values_list("shop_id", flat=True).get(pk=repair_order_id)
        target = obs_target_for(shop_id=shop_id)
        if not target.enabled:
            _fail(newest, "OBS is switched off for this shop.", now)
            return None
        attempt_number = newest.attempt_count + 1
        if attempt_number > max_attempts():
            # The last attempt's worker died before recording it.
            _fail(newest, f"Gave up after {newest.attempt_count} attempts. {newest.last_error}".strip(), now)
            return None
        fence_token = fence_claim(repair_order_id=repair_order_id, hold_seconds=_hold_seconds())
        if fence_token is None:
            raise _HeldElsewhere
        delay = delay_after_attempt(attempt_number)
        # Booked before sending: should this worker die mid-call, the sweep
        # tries again after the planned backoff, not at once.
        retry_at = now + timedelta(seconds=delay if delay is not None else settings.OBS_TIMEOUT_SECONDS * 2)
        newest.attempt_count = attempt_number
        newest.next_attempt_at = retry_at
        newest.save(update_fields=["attempt_count", "next_attempt_at", "updated_at"])
        return _Claim(
            notification_id=newest.id,
            repair_order_id=repair_order_id,
            attempt_number=attempt_number,
            last_attempt=delay is None,
            retry_at=retry_at,
            claimed_at=now,
            url=target.url,
            api_key=target.api_key,
            obs_event_id=newest.obs_event_id,
            status=obs_status_for(shop_id=shop_id, stage_id=newest.stage_id),
            fence_token=fence_token,
        )


def _send(claim: _Claim) -> DeliveryOutcome:
    attempted_at = claim.claimed_at
    try:
        result = transport.post_update(
            url=claim.url,
            api_key=claim.api_key,
            obs_event_id=claim.obs_event_id,
            status=claim.status,
            timeout=settings.OBS_TIMEOUT_SECONDS,
        )
    except transport.TransportError as error:
        failure = error
        outcome = run_reconnecting(lambda: _record_failure(claim, failure, attempted_at))
    else:
        outcome = run_reconnecting(lambda: _record_success(claim, attempted_at, result))
    # After the call, on a fresh connection if need be: did anyone claim the RO meanwhile?
    if not run_reconnecting(
        lambda: fence_release(repair_order_id=claim.repair_order_id, token=claim.fence_token)
    ):
        run_reconnecting(lambda: _newest_send_again(claim.repair_order_id))
    return outcome


def _hold_seconds() -> float:
    # Connect and read timeouts of one call, and room to record it.
    return settings.OBS_TIMEOUT_SECONDS * 2 + 5


def _record_success(
    claim: _Claim, attempted_at: datetime, result: transport.TransportResult
) -> DeliveryOutcome:
    with transaction.atomic(), board_badge_watch(claim.repair_order_id):
        now = timezone.now()
        _attempt_record(claim, attempted_at, result)
        Notification.objects.filter(pk=claim.notification_id, state=State.PENDING).update(
            state=State.DELIVERED, delivered_at=now, next_attempt_at=None, last_error="", updated_at=now
        )
        # OBS now has a newer stage than any older notification carries.
        _supersede(
            claim.repair_order_id,
            before_id=claim.notification_id,
            states=[State.PENDING, State.FAILED],
            now=now,
        )
    logger.info("OBS notification %s delivered (attempt %s)", claim.notification_id, claim.attempt_number)
    return DeliveryOutcome.DELIVERED


@transaction.atomic
def _newest_send_again(repair_order_id: int) -> None:
    """After an uncertain outcome: queue the RO's newest notification once more,
    as a new row, so that it is sent after whatever is in flight now (a
    pending row may be mid-call elsewhere; a delivered one is done)."""
    newest = (
        Notification.objects.select_for_update()
        .filter(repair_order_id=repair_order_id)
        .order_by("-id")
        .first()
    )
    if newest is None or newest.state == State.FAILED:
        return  # OBS refused the newest: sending it again is the manager's call (re-send)
    copy = Notification.objects.create(
        repair_order_id=repair_order_id,
        obs_event_id=newest.obs_event_id,
        stage_id=newest.stage_id,
        next_attempt_at=timezone.now(),
    )
    logger.warning(
        "OBS notification %s: another worker claimed RO %s during this call; sending its newest stage "
        "again as notification %s",
        newest.id,
        repair_order_id,
        copy.id,
    )
    transaction.on_commit(lambda: obs_deliver_enqueue(copy.id))


def _attempt_record(claim: _Claim, attempted_at: datetime, outcome) -> None:
    """Keep one attempt: a transport result or a TransportError (same fields)."""
    DeliveryAttempt.objects.create(
        notification_id=claim.notification_id,
        attempted_at=attempted_at,
        http_status=outcome.http_status,
        message=outcome.message,
        duration_ms=outcome.duration_ms,
    )


def _record_failure(
    claim: _Claim, error: transport.TransportError, attempted_at: datetime
) -> DeliveryOutcome:
    with transaction.atomic(), board_badge_watch(claim.repair_order_id):
        now = timezone.now()
        _attempt_record(claim, attempted_at, error)
        still_pending = Notification.objects.filter(pk=claim.notification_id, state=State.PENDING)
        if error.permanent or claim.last_attempt:
            message = error.message
            if not error.permanent:
                message = f"Gave up after {claim.attempt_number} attempts. Last: {error.message}"
            still_pending.update(state=State.FAILED, last_error=message, next_attempt_at=None, updated_at=now)
            logger.warning("OBS notification %s failed: %s", claim.notification_id, message)
            return DeliveryOutcome.FAILED
        fields = {"last_error": error.message, "updated_at": now}
        if error.retry_after_seconds is not None:
            # OBS asked for a pause (429/503 Retry-After): honour it, within the cap.
            wait = min(error.retry_after_seconds, settings.OBS_RETRY_MAX_DELAY_SECONDS)
            fields["next_attempt_at"] = max(claim.retry_at, now + timedelta(seconds=wait))
        still_pending.update(**fields)
    logger.info(
        "OBS notification %s: attempt %s failed, will retry: %s",
        claim.notification_id,
        claim.attempt_number,
        error.message,
    )
    return DeliveryOutcome.RETRYING


def _fail(notification: Notification, message: str, now: datetime) -> None:
    with board_badge_watch(notification.repair_order_id):
        Notification.objects.filter(pk=notification.pk, state=State.PENDING).update(
            state=State.FAILED, last_error=message, next_attempt_at=None, updated_at=now
        )


def _supersede(repair_order_id: int, *, before_id: int, states: list[str], now: datetime) -> None:
    Notification.objects.filter(repair_order_id=repair_order_id, id__lt=before_id, state__in=states).update(
        state=State.OBSOLETE, next_attempt_at=None, updated_at=now
    )


def _due_pending_exists(repair_order_id: int) -> bool:
    return Notification.objects.filter(
        repair_order_id=repair_order_id, state=State.PENDING, next_attempt_at__lte=timezone.now()
    ).exists()


def _next_attempt_at(repair_order_id: int) -> datetime | None:
    return Notification.objects.filter(repair_order_id=repair_order_id, state=State.PENDING).aggregate(
        at=Min("next_attempt_at")
    )["at"]


@transaction.atomic
def notification_resend(*, notification_id: int) -> Notification:
    """Queue a failed (or still pending) notification again, now, with a fresh
    retry schedule. Only the RO's newest notification can be re-sent."""
    notification = Notification.objects.select_for_update().get(pk=notification_id)
    newest_id = Notification.objects.filter(repair_order_id=notification.repair_order_id).aggregate(
        m=Max("id")
    )["m"]
    if notification.id != newest_id:
        raise NotResendable(
            "A newer stage change was recorded since; re-sending this one would put OBS on an older stage."
        )
    if notification.state not in (State.FAILED, State.PENDING):
        raise NotResendable(f"This notification is {notification.get_state_display().lower()}.")
    notification.state = State.PENDING
    notification.attempt_count = 0
    notification.last_error = ""
    notification.next_attempt_at = timezone.now()
    with board_badge_watch(notification.repair_order_id):
        notification.save(
            update_fields=["state", "attempt_count", "last_error", "next_attempt_at", "updated_at"]
        )
    transaction.on_commit(lambda: obs_deliver_enqueue(notification.id))
    return notification


def notifications_requeue_due(*, limit: int = 500) -> int:
    """The sweep: queue again the newest pending notification of every RO
    that has been due for a while (its task was lost: broker down at commit
    time, worker killed). Duplicates of a live task are harmless: the lock
    and the due check make them no-ops, and they expire if the worker is
    down for long."""
    cutoff = timezone.now() - timedelta(seconds=settings.OBS_SWEEP_GRACE_SECONDS)
    newest_ids = list(notifications_due_newest(due_before=cutoff, limit=limit))
    queued = sum(
        obs_deliver_enqueue(notification_id, expires=settings.OBS_SWEEP_INTERVAL_SECONDS * 4)
        for notification_id in newest_ids
    )
    if newest_ids:
        logger.info("OBS sweep re-queued %s of %s due notification(s)", queued, len(newest_ids))
    return queued
