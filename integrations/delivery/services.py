"""The one delivery engine: every message to every destination (SPEC §5, §9).

A lane is one RO's messages to one destination (OBS, or one webhook
endpoint); a webhook test message (no RO) is a lane of its own. The ordering
rule is the same for every lane (locks.py): one deliverer at a time, under
the RO's advisory lock and, what ordering rests on, the lane's lease with a
fencing token, which survives a lost database connection mid-call.

`message_deliver` runs rounds, each under the lock: a short "claim"
transaction picks the lane's head, takes the lease and books the attempt
(attempt_count + 1, next try after the backoff or the lease, whichever is
later), so nobody else sends it meanwhile, whatever happens to this worker;
the HTTP call runs with no transaction open (the adapter's `send`); a short
"record" transaction keeps the attempt and, if the lease is still this
claim's, writes the outcome. A task that finds the lane's lock taken leaves
it to the holder, which looks again after letting go of the lock: rounds
go on while the lane's head is due, so nothing committed while a call held
the lane waits for the sweep.

What the head is, and what an uncertain outcome (the lease was taken over
during the call) means, depends on the destination kind (adapters.py):
- latest-only lanes (OBS): the head is the newest pending message; older
  pending ones become obsolete, and so does anything older than a delivered
  one, so OBS never ends on an older stage. After an uncertain outcome the
  newest message is queued once more as a copy, sent after whatever is in
  flight, so OBS ends on the current stage.
- in-order lanes (webhooks): the head is the oldest pending message; it
  holds back the later ones until delivered or failed, so a receiver never
  sees version 3 before version 2. After an uncertain outcome the message is
  left to the claim that took the lane, which sends it again with the same
  public id (receivers dedupe on `webhook-id`).
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .adapters import Adapter, Refused, SendResult, adapter_for
from .locks import fence_claim, fence_release, lane_name, repair_order_delivery_lock, run_reconnecting
from .models import Attempt, Message
from .queue import message_deliver_enqueue, message_deliver_enqueue_many
from .selectors import lanes_due

logger = logging.getLogger(__name__)

State = Message.State
# Messages one task call may send along a lane before handing over.
MAX_ROUNDS = 10


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    RETRYING = "retrying"
    NOTHING = "nothing"  # nothing of the lane was due
    BUSY = "busy"  # another worker holds the lane (its lock or its lease)
    SUPERSEDED = "superseded"  # the lane was claimed again during the call


class NotResendable(Exception):
    pass


@dataclass(frozen=True)
class DeliveryReport:
    outcome: DeliveryOutcome
    # When the lane is due again, if this call owns that retry.
    retry_at: datetime | None = None


@dataclass(frozen=True)
class Lane:
    destination: str
    endpoint_id: int | None
    repair_order_id: int | None
    message_id: int

    @property
    def name(self) -> str:
        return lane_name(self.destination, self.endpoint_id)

    def messages(self) -> QuerySet[Message]:
        if self.repair_order_id is None:
            return Message.objects.filter(pk=self.message_id)
        return Message.objects.filter(
            destination=self.destination, endpoint_id=self.endpoint_id, repair_order_id=self.repair_order_id
        )


@dataclass(frozen=True)
class Claim:
    lane: Lane
    message: Message
    token: int | None  # the lane's fencing token (None: a message without RO)
    attempt_number: int
    # The backoff after this attempt; None when it is the last one.
    retry_delay: float | None
    # When the attempt was booked: kept as the attempt's time.
    claimed_at: datetime
    # Where and what to send (the adapter's).
    prepared: Any


_BUSY = object()


def message_deliver(*, message_id: int) -> DeliveryReport:
    """Send what is due in the message's lane. Not atomic on purpose: no
    transaction is open while the destination answers."""
    lane = run_reconnecting(lambda: _lane_of(message_id))
    if lane is None:
        return DeliveryReport(DeliveryOutcome.NOTHING)
    adapter = adapter_for(lane.destination)
    outcome = DeliveryOutcome.NOTHING
    attempted = False
    for _ in range(MAX_ROUNDS):
        with _lane_lock(lane) as acquired:
            if not acquired:
                return DeliveryReport(DeliveryOutcome.BUSY)
            claim = run_reconnecting(lambda: lane_head_claim(lane, adapter))
            if claim is _BUSY:
                return DeliveryReport(DeliveryOutcome.BUSY)
            if claim is not None:
                attempted = True
                outcome = _send(claim, adapter)
        # After letting go of the lane, one read: when its head is due. Due
        # now means a message was committed while this call held the lane
        # (its task found the lane busy and left it to us, even after a claim
        # that found nothing): another round. Otherwise whoever made the
        # last attempt owns the next one; a call that attempted nothing
        # schedules nothing, so duplicate tasks die out.
        due_at = run_reconnecting(lambda: _head_next_attempt_at(lane, adapter))
        if due_at is None or due_at > timezone.now():
            return DeliveryReport(outcome, due_at if attempted else None)
    # More to send than one call may: hand the lane to a fresh task.
    message_deliver_enqueue(message_id)
    return DeliveryReport(outcome)


def _lane_of(message_id: int) -> Lane | None:
    row = (
        Message.objects.filter(pk=message_id).values("destination", "endpoint_id", "repair_order_id").first()
    )
    return Lane(message_id=message_id, **row) if row else None


@contextmanager
def _lane_lock(lane: Lane) -> Iterator[bool]:
    if lane.repair_order_id is None:
        yield True  # a lane of one message: its booking alone guards it
        return
    with repair_order_delivery_lock(lane.repair_order_id, destination=lane.name) as acquired:
        yield acquired


def lane_head_claim(lane: Lane, adapter: Adapter):
    """A Claim on the lane's head, None when nothing is due, or _BUSY."""
    now = timezone.now()
    with transaction.atomic():
        while True:
            # Where to send it comes along (one statement less per message); only the messages are locked.
            pending = (
                lane.messages()
                .filter(state=State.PENDING)
                .select_related("endpoint", "repair_order")
                .select_for_update(of=("self",))
                .order_by("id")
            )
            if adapter.latest_only:
                rows = list(pending)
                if not rows:
                    return None
                head = rows[-1]
                _supersede(lane, before_id=head.id, states=[State.PENDING], now=now)
                if lane.messages().filter(state=State.DELIVERED, id__gt=head.id).exists():
                    _supersede(lane, before_id=head.id + 1, states=[State.PENDING], now=now)
                    return None
            else:
                head = pending.first()
                if head is None:
                    return None
            if head.next_attempt_at is not None and head.next_attempt_at > now:
                return None
            try:
                prepared = adapter.prepare(head, now)
            except Refused as refused:
                with adapter.card_watch(head.repair_order_id):
                    _fail(head.id, str(refused), now)
                continue
            policy = adapter.policy()
            attempt_number = head.attempt_count + 1
            if attempt_number > policy.max_attempts():
                # The last attempt's worker died before recording it.
                with adapter.card_watch(head.repair_order_id):
                    _fail(
                        head.id,
                        f"Gave up after {head.attempt_count} attempts. {head.last_error}".strip(),
                        now,
                    )
                continue
            lease = adapter.lease_seconds()
            token = None
            if lane.repair_order_id is not None:
                token = fence_claim(
                    repair_order_id=lane.repair_order_id, hold_seconds=lease, destination=lane.name
                )
                if token is None:
                    return _BUSY  # a claim of the lane still holds it
            claim = claim_book(lane=lane, adapter=adapter, head=head, token=token, prepared=prepared, now=now)
            head.save(update_fields=["attempt_count", "next_attempt_at", "updated_at"])
            return claim


def claim_book(
    *, lane: Lane, adapter: Adapter, head: Message, token: int | None, prepared: Any, now: datetime
) -> Claim:
    """The claim on `head`, booked on the instance (the caller writes it): the
    next attempt number, and the next try after the backoff or the lease,
    whichever is later. Booked before sending: nobody else sends it
    meanwhile, and should this worker die mid-call the planned backoff still
    applies."""
    attempt_number = head.attempt_count + 1
    delay = adapter.policy().delay_after_attempt(attempt_number)
    head.attempt_count = attempt_number
    head.next_attempt_at = now + timedelta(seconds=max(delay or 0, adapter.lease_seconds()))
    return Claim(
        lane=lane,
        message=head,
        token=token,
        attempt_number=attempt_number,
        retry_delay=delay,
        claimed_at=now,
        prepared=prepared,
    )


def _send(claim: Claim, adapter: Adapter) -> DeliveryOutcome:
    result = adapter.send(claim.prepared, claim.message)
    return run_reconnecting(lambda: attempt_record(claim, adapter, result))


@transaction.atomic
def attempt_record(claim: Claim, adapter: Adapter, result: SendResult) -> DeliveryOutcome:
    """Keep the attempt; write the outcome if the lane is still this claim's."""
    message = claim.message
    if not Message.objects.filter(pk=message.id).exists():
        return DeliveryOutcome.NOTHING  # its endpoint was deleted during the call
    with adapter.card_watch(message.repair_order_id):
        return _attempt_outcome_write(claim, adapter, result)


def _attempt_outcome_write(claim: Claim, adapter: Adapter, result: SendResult) -> DeliveryOutcome:
    now = timezone.now()
    message = claim.message
    Attempt.objects.create(
        message_id=message.id,
        attempted_at=claim.claimed_at,
        http_status=result.http_status,
        error=result.error,
        response_excerpt=result.response_excerpt,
        duration_ms=result.duration_ms,
    )
    # The fence: did anyone claim the lane during the call?
    ours = claim.token is None or fence_release(
        repair_order_id=claim.lane.repair_order_id, token=claim.token, destination=claim.lane.name
    )
    if not ours and not adapter.latest_only:
        logger.warning("Message %s: its lane was claimed again during the call", message.id)
        return DeliveryOutcome.SUPERSEDED
    held = Message.objects.filter(pk=message.id, state=State.PENDING, attempt_count=claim.attempt_number)
    if result.delivered:
        held.update(
            state=State.DELIVERED, delivered_at=now, next_attempt_at=None, last_error="", updated_at=now
        )
        if adapter.latest_only:
            # The destination now has a newer state than any older message carries.
            _supersede(claim.lane, before_id=message.id, states=[State.PENDING, State.FAILED], now=now)
        adapter.on_delivered(message, now)
        outcome = DeliveryOutcome.DELIVERED
    elif adapter.on_failure(message, result, claim.claimed_at, now):
        outcome = DeliveryOutcome.FAILED
    elif result.permanent or claim.retry_delay is None:
        reason = result.error
        if not result.permanent:
            reason = f"Gave up after {claim.attempt_number} attempts. Last: {result.error}"
        held.update(state=State.FAILED, last_error=reason, next_attempt_at=None, updated_at=now)
        outcome = DeliveryOutcome.FAILED
    else:
        retry_at = adapter.policy().retry_at(
            attempted_at=claim.claimed_at,
            delay=claim.retry_delay,
            now=now,
            retry_after_seconds=result.retry_after_seconds,
        )
        held.update(last_error=result.error, next_attempt_at=retry_at, updated_at=now)
        outcome = DeliveryOutcome.RETRYING
    if not ours:
        _newest_send_again(claim.lane, now)
    logger.info(
        "%s message %s: attempt %s %s %s",
        message.get_destination_display(),
        message.id,
        claim.attempt_number,
        outcome,
        result.error,
    )
    return outcome


def _newest_send_again(lane: Lane, now: datetime) -> None:
    """After an uncertain outcome on a latest-only lane: queue its newest
    message once more, as a new row, so that it is sent after whatever is in
    flight now (a pending row may be mid-call elsewhere; a delivered one is done)."""
    newest = lane.messages().select_for_update().order_by("-id").first()
    if newest is None or newest.state == State.FAILED:
        return  # the destination refused the newest: sending it again is a person's call (re-send)
    copy = Message.objects.create(
        destination=newest.destination,
        endpoint_id=newest.endpoint_id,
        repair_order_id=newest.repair_order_id,
        stage_id=newest.stage_id,
        obs_event_id=newest.obs_event_id,
        event_type=newest.event_type,
        body=newest.body,
        next_attempt_at=now,
    )
    logger.warning(
        "Message %s: another worker claimed its lane during this call; sending its newest again as message %s",
        newest.id,
        copy.id,
    )
    transaction.on_commit(lambda: message_deliver_enqueue(copy.id))


def _fail(message_id: int, reason: str, now: datetime) -> None:
    Message.objects.filter(pk=message_id, state=State.PENDING).update(
        state=State.FAILED, last_error=reason, next_attempt_at=None, updated_at=now
    )


def _supersede(lane: Lane, *, before_id: int, states: list[str], now: datetime) -> None:
    lane.messages().filter(id__lt=before_id, state__in=states).update(
        state=State.OBSOLETE, next_attempt_at=None, updated_at=now
    )


def _head_next_attempt_at(lane: Lane, adapter: Adapter) -> datetime | None:
    """When the lane's head (what the next claim takes) is due: its oldest
    pending message, or its newest on a latest-only lane."""
    pending = lane.messages().filter(state=State.PENDING).order_by("-id" if adapter.latest_only else "id")
    return pending.values_list("next_attempt_at", flat=True).first()


# ---- Re-send and the sweep ------------------------------------------------------------------------------------


def messages_requeue(messages: QuerySet[Message], now: datetime) -> int:
    """Pending again, now, with a fresh retry schedule and the same public id."""
    return messages.update(
        state=State.PENDING,
        attempt_count=0,
        last_error="",
        next_attempt_at=now,
        delivered_at=None,
        updated_at=now,
    )


@transaction.atomic
def message_resend(*, message_id: int) -> Message:
    """Send a message again, now, if its destination's rules allow it
    (adapters: OBS only an RO's newest; webhooks only to an enabled endpoint)."""
    message = Message.objects.select_for_update(of=("self",)).select_related("endpoint").get(pk=message_id)
    adapter = adapter_for(message.destination)
    refusal = adapter.resend_refusal(message)
    if refusal:
        raise NotResendable(refusal)
    with adapter.card_watch(message.repair_order_id):
        messages_requeue(Message.objects.filter(pk=message.pk), timezone.now())
    transaction.on_commit(lambda: message_deliver_enqueue(message.id))
    message.refresh_from_db()
    return message


@transaction.atomic
def messages_resend(*, message_ids: list[int]) -> int:
    """Queue these messages again, in their lanes' order (the caller checked them)."""
    messages_requeue(Message.objects.filter(pk__in=message_ids), timezone.now())
    transaction.on_commit(lambda: message_deliver_enqueue_many(sorted(message_ids)))
    return len(message_ids)


def messages_requeue_due(*, limit: int = 1000) -> int:
    """The sweep: queue again every lane that has had a message due for a
    while (its destination's grace: its task was lost, the broker was down at
    commit time, a worker was killed). Duplicates of a live task are
    harmless: the lock, the lease and the due check make them no-ops, and
    they expire if the workers are down for long."""
    heads = list(lanes_due(limit=limit))
    expires = settings.DELIVERY_SWEEP_INTERVAL_SECONDS * 4
    queued = sum(message_deliver_enqueue(message_id, expires=expires) for message_id in heads)
    if heads:
        logger.info("Sweep re-queued %s of %s due lane(s)", queued, len(heads))
    return queued
