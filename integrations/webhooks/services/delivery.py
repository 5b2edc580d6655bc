"""Delivering webhook messages, per lane; re-sends; the sweep.

A lane is one endpoint and one RO: its messages go out in order, oldest
first, each until delivered or failed; a message waiting to be retried holds
back the later ones of its lane (a receiver never sees version 3 before
version 2). The ordering rule is OBS's (integrations/obs/locks.py), with the
destination "webhook:<endpoint id>": a claim takes the lane's lease for
longer than a call can take, in a short transaction, and books the attempt
(attempt_count + 1, next try after the backoff or the lease, whichever is
later), so nobody else sends from the lane meanwhile, whatever happens to
this worker's connection. The call runs with no transaction open; the outcome
is recorded (on a fresh connection if the old one died) only if the lease is
still this claim's: a worker frozen past its lease finds the lane re-claimed
and leaves the message to the new claim, which sends it again with the same
webhook-id (receivers dedupe on it). Test messages (no RO) are each a lane of
their own, guarded by their booking alone.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from ...delivery.models import Attempt as WebhookAttempt
from ...obs.locks import fence_claim, fence_release, run_reconnecting
from .. import transport
from ..models import WebhookEndpoint, WebhookMessage
from ..queue import webhook_deliver_enqueue, webhook_deliver_enqueue_many
from ..schedule import webhook_retry_policy
from ..secrets import SecretUnreadable
from ..selectors import secrets_live
from ..signing import signed_headers
from .endpoints import endpoint_disable

logger = logging.getLogger(__name__)

State = WebhookMessage.State
# Messages one task call may send along a lane before handing over.
MAX_ROUNDS = 10
# How long past the HTTP timeout a lease outlives its worker.
LEASE_MARGIN_SECONDS = 30


def _destination(endpoint_id: int) -> str:
    """The lane's destination name for the shared ordering rule (DeliveryFence)."""
    return f"webhook:{endpoint_id}"


class NotResendable(Exception):
    pass


@dataclass(frozen=True)
class DeliveryReport:
    # "delivered", "failed", "retrying", "waiting" (head not due), "busy",
    # "superseded" (the lane was re-claimed during the call), "nothing".
    outcome: str
    # When the lane's head is due again, if this call owns that retry.
    retry_at: datetime | None = None


@dataclass(frozen=True)
class _Claim:
    message_id: int
    endpoint_id: int
    repair_order_id: int | None
    token: int | None  # the lane's fencing token (None: a test message)
    attempt_number: int
    last_attempt: bool
    url: str
    secrets: list[str]
    webhook_id: str
    body: str


def _lane(message: dict):
    if message["repair_order_id"] is None:
        return WebhookMessage.objects.filter(pk=message["id"])
    return WebhookMessage.objects.filter(
        endpoint_id=message["endpoint_id"], repair_order_id=message["repair_order_id"]
    )


def webhook_message_deliver(*, message_id: int) -> DeliveryReport:
    """Send the due messages of the message's lane, in order. Not atomic on
    purpose: no transaction is open while the endpoint answers."""
    message = run_reconnecting(
        lambda: (
            WebhookMessage.objects.filter(pk=message_id)
            .values("id", "endpoint_id", "repair_order_id")
            .first()
        )
    )
    if message is None:
        return DeliveryReport("nothing")
    outcome = "nothing"
    attempted = False
    for _ in range(MAX_ROUNDS):
        claim, waiting_until = run_reconnecting(lambda: _claim_head(message))
        if claim == "busy":
            return DeliveryReport("busy")
        if claim is None:
            if waiting_until is not None:
                # The head waits for its retry: its owner runs it then; a
                # call that only found it waiting schedules nothing.
                return DeliveryReport("waiting", waiting_until if attempted else None)
            return DeliveryReport(outcome)
        attempted = True
        outcome = _send(claim)
        if outcome == "retrying":
            return DeliveryReport(outcome, run_reconnecting(lambda: _lane_next_attempt_at(message)))
    # More to send than one call may: hand the lane to a fresh task.
    webhook_deliver_enqueue(message_id)
    return DeliveryReport(outcome)


def _lane_next_attempt_at(message: dict) -> datetime | None:
    return _lane(message).filter(state=State.PENDING).aggregate(at=Min("next_attempt_at"))["at"]


def _claim_head(message: dict):
    """(claim, None), ("busy", None), (None, due_at) or (None, None)."""
    now = timezone.now()
    with transaction.atomic():
        while True:
            head = _lane(message).filter(state=State.PENDING).select_for_update().order_by("id").first()
            if head is None:
                return None, None
            if head.next_attempt_at is not None and head.next_attempt_at > now:
                return None, head.next_attempt_at
            endpoint = WebhookEndpoint.objects.get(pk=head.endpoint_id)
            policy = webhook_retry_policy()
            if not endpoint.enabled:
                _message_fail(head.id, f"Endpoint disabled: {endpoint.disabled_reason or 'paused'}", now)
                continue
            attempt_number = head.attempt_count + 1
            if attempt_number > policy.max_attempts():
                # The last attempt's worker died before recording it.
                _message_fail(
                    head.id, f"Gave up after {head.attempt_count} attempts. {head.last_error}".strip(), now
                )
                continue
            try:
                secrets = secrets_live(endpoint, now=now)
            except SecretUnreadable as exc:
                _message_fail(head.id, str(exc), now)
                continue
            delay = policy.delay_after_attempt(attempt_number)
            lease = settings.WEBHOOKS_TIMEOUT_SECONDS * 2 + LEASE_MARGIN_SECONDS
            token = None
            if head.repair_order_id is not None:
                token = fence_claim(
                    repair_order_id=head.repair_order_id,
                    hold_seconds=lease,
                    destination=_destination(endpoint.id),
                )
                if token is None:
                    return "busy", None  # a claim of the lane still holds it
            # Booked before sending: nobody else sends it meanwhile, and should
            # this worker die mid-call the planned backoff still applies.
            head.attempt_count = attempt_number
            head.next_attempt_at = now + timedelta(seconds=max(delay or 0, lease))
            head.save(update_fields=["attempt_count", "next_attempt_at", "updated_at"])
            return _Claim(
                message_id=head.id,
                endpoint_id=endpoint.id,
                repair_order_id=head.repair_order_id,
                token=token,
                attempt_number=attempt_number,
                last_attempt=delay is None,
                url=endpoint.url,
                secrets=secrets,
                webhook_id=head.webhook_id,
                body=head.body,
            ), None


def _send(claim: _Claim) -> str:
    attempted_at = timezone.now()
    headers = signed_headers(
        secrets=claim.secrets,
        webhook_id=claim.webhook_id,
        timestamp=int(attempted_at.timestamp()),
        body=claim.body,
    )
    try:
        result = transport.post_message(url=claim.url, body=claim.body, headers=headers)
    except transport.UrlRefused as refused:
        result = transport.DeliveryResult(False, None, f"Refused: {refused}", "", 0)
        permanent = True
    else:
        permanent = result.gone
    return run_reconnecting(lambda: _record(claim, result, attempted_at, permanent=permanent))


@transaction.atomic
def _record(
    claim: _Claim, result: transport.DeliveryResult, attempted_at: datetime, *, permanent: bool
) -> str:
    now = timezone.now()
    if not WebhookMessage.objects.filter(pk=claim.message_id).exists():
        return "nothing"  # its endpoint was deleted during the call
    WebhookAttempt.objects.create(
        message_id=claim.message_id,
        attempted_at=attempted_at,
        http_status=result.http_status,
        error=result.error,
        response_excerpt=result.response_excerpt,
        duration_ms=result.duration_ms,
    )
    # The fence: only the lane's current claim writes the outcome.
    if claim.token is not None and not fence_release(
        repair_order_id=claim.repair_order_id, token=claim.token, destination=_destination(claim.endpoint_id)
    ):
        logger.warning("Webhook message %s: its lane was claimed again during the call", claim.message_id)
        return "superseded"
    held = WebhookMessage.objects.filter(
        pk=claim.message_id, state=State.PENDING, attempt_count=claim.attempt_number
    )
    released = {"updated_at": now}
    if result.delivered:
        held.update(state=State.DELIVERED, delivered_at=now, next_attempt_at=None, last_error="", **released)
        WebhookEndpoint.objects.filter(pk=claim.endpoint_id, failing_since__isnull=False).update(
            failing_since=None
        )
        return "delivered"
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=claim.endpoint_id)
    if endpoint.failing_since is None:
        endpoint.failing_since = attempted_at
        endpoint.save(update_fields=["failing_since"])
    failing_for = now - endpoint.failing_since
    if result.gone:
        endpoint_disable(endpoint.id, "The endpoint answered 410 Gone.", now)
        return "failed"
    if failing_for.total_seconds() >= settings.WEBHOOKS_DISABLE_AFTER_SECONDS:
        days = failing_for.total_seconds() / 86400
        endpoint_disable(
            endpoint.id,
            f"Every delivery failed for {days:.1f} days (since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC). "
            f"Last: {result.error}",
            now,
        )
        return "failed"
    if permanent or claim.last_attempt:
        message = (
            result.error
            if permanent
            else f"Gave up after {claim.attempt_number} attempts. Last: {result.error}"
        )
        held.update(state=State.FAILED, last_error=message, next_attempt_at=None, **released)
        return "failed"
    fields = {"last_error": result.error, **released}
    policy = webhook_retry_policy()
    wait = policy.retry_after_wait(
        policy.delay_after_attempt(claim.attempt_number) or 0, result.retry_after_seconds
    )
    fields["next_attempt_at"] = now + timedelta(seconds=wait)
    held.update(**fields)
    return "retrying"


def _message_fail(message_id: int, reason: str, now: datetime) -> None:
    WebhookMessage.objects.filter(pk=message_id, state=State.PENDING).update(
        state=State.FAILED, last_error=reason, next_attempt_at=None, updated_at=now
    )


# ---- Re-send and the sweep --------------------------------------------------------------------------------------


def _requeue(messages, now: datetime) -> int:
    return messages.update(
        state=State.PENDING,
        attempt_count=0,
        last_error="",
        next_attempt_at=now,
        delivered_at=None,
        updated_at=now,
    )


@transaction.atomic
def webhook_message_resend(*, message_id: int) -> WebhookMessage:
    """Send a message again, now, with a fresh retry schedule and the same
    webhook-id (a receiver that already has it drops the copy)."""
    message = (
        WebhookMessage.objects.select_for_update(of=("self",)).select_related("endpoint").get(pk=message_id)
    )
    if not message.endpoint.enabled:
        raise NotResendable("The endpoint is disabled: enable it first.")
    if message.state == State.PENDING:
        raise NotResendable("This message is still being sent.")
    _requeue(WebhookMessage.objects.filter(pk=message.pk), timezone.now())
    transaction.on_commit(lambda: webhook_deliver_enqueue(message.id))
    message.refresh_from_db()
    return message


@transaction.atomic
def webhook_messages_resend_failed(*, endpoint_id: int) -> int:
    """Every failed message of an endpoint, again, in their lanes' order."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    if not endpoint.enabled:
        raise NotResendable("The endpoint is disabled: enable it first.")
    failed = WebhookMessage.objects.filter(endpoint_id=endpoint_id, state=State.FAILED)
    ids = list(failed.order_by("id").values_list("id", flat=True))
    _requeue(WebhookMessage.objects.filter(pk__in=ids), timezone.now())
    transaction.on_commit(lambda: webhook_deliver_enqueue_many(ids))
    return len(ids)


def webhook_messages_requeue_due(*, limit: int = 1000) -> int:
    """The sweep: queue again every lane whose head has been due for a while
    (its task was lost: broker down at commit, worker killed). Duplicates of
    a live task are harmless: the lease and the due check make them no-ops."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.WEBHOOKS_SWEEP_GRACE_SECONDS)
    # Test messages (no RO) share one group here, so one of them is re-queued
    # per sweep: they are rare and never hold anything back.
    heads = list(
        WebhookMessage.objects.filter(state=State.PENDING, next_attempt_at__lte=cutoff)
        .order_by()
        .values("endpoint_id", "repair_order_id")
        .annotate(head=Min("id"))
        .values_list("head", flat=True)[:limit]
    )
    expires = settings.WEBHOOKS_SWEEP_INTERVAL_SECONDS * 4
    queued = sum(webhook_deliver_enqueue(message_id, expires=expires) for message_id in heads)
    if heads:
        logger.info("Webhook sweep re-queued %s of %s due lane(s)", queued, len(heads))
    return queued
