"""Writes of the webhooks (SPEC §9): endpoints, events into the outbox, delivery.

Events. repairs sends its signals inside the writer's transaction; outbox.py
turns each into one message per enabled endpoint of the RO's shop that wants
the event, with the body (the RO as the read API shows it) fixed now, and
queues their delivery on commit. A shop without endpoints pays one query.

Delivery, per lane. A lane is one endpoint and one RO: its messages go out
in order, oldest first, each until delivered or failed; a message waiting to
be retried holds back the later ones of its lane (a receiver never sees
version 3 before version 2). A worker takes the lane's head with a lease
(leased_until + a token, in a short transaction), sends with no transaction
open, and records the outcome only if its token still holds the message (a
fence): a worker that lost its database connection or died mid-call loses
nothing but the lease, which lapses, and the message is sent again with the
same webhook-id (receivers dedupe on it).
"""

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from repairs.models import RepairOrder, StageChange
from repairs.selectors import repair_orders_to_read

from ..api.render import repair_order_json
from . import transport
from .events import SUBSCRIBABLE, EventType
from .models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from .queue import webhook_deliver_enqueue, webhook_deliver_enqueue_many
from .schedule import delay_after_attempt, max_attempts
from .secrets import SecretUnreadable, secret_encrypt, secret_new
from .selectors import endpoints_listening, secrets_live
from .signing import signed_headers

logger = logging.getLogger(__name__)

State = WebhookMessage.State
# Messages one task call may send along a lane before handing over.
MAX_ROUNDS = 10
# How long past the HTTP timeout a lease outlives its worker.
LEASE_MARGIN_SECONDS = 30


class EndpointInvalid(Exception):
    """A field of an endpoint is not acceptable; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


class NotResendable(Exception):
    pass


# ---- Endpoints ------------------------------------------------------------------------------------------------


def url_check(url: str) -> str:
    """The rules a URL must meet when it is saved; its host's addresses are
    checked again at every send (transport.py)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointInvalid("url", "Enter an absolute https:// URL.")
    if parts.scheme != "https" and not settings.WEBHOOKS_ALLOW_PRIVATE:
        raise EndpointInvalid("url", "The URL must start with https://.")
    if parts.username or parts.password:
        raise EndpointInvalid("url", "The URL must not carry a user name or password.")
    if not settings.WEBHOOKS_ALLOW_PRIVATE:
        try:
            refusal = transport._address_refusal(parts.hostname)
        except ValueError:
            refusal = None  # a name: resolved and checked at send time
        if refusal or parts.hostname.lower() == "localhost":
            raise EndpointInvalid(
                "url", f"The URL must point to a public address ({refusal or 'localhost'})."
            )
    return url


def events_check(events: Sequence[str]) -> list[str]:
    allowed = {e.value for e in SUBSCRIBABLE} | {EventType.ALL.value}
    if not events:
        raise EndpointInvalid("events", 'List at least one event, or ["*"] for all.')
    unknown = [e for e in events if e not in allowed]
    if unknown:
        raise EndpointInvalid("events", f"Unknown event {unknown[0]!r}; one of {', '.join(sorted(allowed))}.")
    return list(dict.fromkeys(events))


@transaction.atomic
def endpoint_create(
    *, shop_id: int, url: str, events: Sequence[str], description: str = "", enabled: bool = True
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (returned once: only its encryption is kept)."""
    secret = secret_new()
    endpoint = WebhookEndpoint.objects.create(
        shop_id=shop_id,
        url=url_check(url),
        events=events_check(events),
        description=description.strip(),
        enabled=enabled,
        secret_encrypted=secret_encrypt(secret),
    )
    return endpoint, secret


@transaction.atomic
def endpoint_update(
    *,
    endpoint_id: int,
    url: str | None = None,
    events: Sequence[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    """Change the given fields. Enabling clears why it was disabled and its
    failure clock (re-send its failed messages separately: they may be many)."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    if url is not None:
        endpoint.url = url_check(url)
    if events is not None:
        endpoint.events = events_check(events)
    if description is not None:
        endpoint.description = description.strip()
    if enabled is not None and enabled != endpoint.enabled:
        endpoint.enabled = enabled
        endpoint.disabled_reason = ""
        endpoint.disabled_at = None if enabled else timezone.now()
        endpoint.failing_since = None
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint_id: int) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id).delete()


@transaction.atomic
def endpoint_secret_rotate(*, endpoint_id: int) -> tuple[WebhookEndpoint, str]:
    """A new secret; the current one keeps signing (beside it) for
    WEBHOOKS_PREVIOUS_SECRET_SECONDS, so receivers can switch without a gap."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    secret = secret_new()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_until = timezone.now() + timedelta(
        seconds=settings.WEBHOOKS_PREVIOUS_SECRET_SECONDS
    )
    endpoint.secret_encrypted = secret_encrypt(secret)
    endpoint.save()
    return endpoint, secret


def _endpoint_disable(endpoint_id: int, reason: str, now: datetime) -> None:
    """Disable an endpoint and fail what it still had pending (kept for a re-send)."""
    WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).update(
        enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now
    )
    WebhookMessage.objects.filter(endpoint_id=endpoint_id, state=State.PENDING).update(
        state=State.FAILED,
        last_error=f"Endpoint disabled: {reason}",
        next_attempt_at=None,
        leased_until=None,
        updated_at=now,
    )
    logger.warning("Webhook endpoint %s disabled: %s", endpoint_id, reason)


# ---- Events into the outbox -------------------------------------------------------------------------------------


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.UTC).isoformat().replace("+00:00", "Z")


def message_body(*, event_type: str, timestamp: datetime, data: dict) -> str:
    return json.dumps(
        {"type": event_type, "timestamp": _rfc3339(timestamp), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def webhook_events_record(
    *,
    event_type: EventType,
    repair_order_ids: Sequence[int],
    extra: dict | None = None,
    at: datetime | None = None,
) -> list[WebhookMessage]:
    """One message per (RO, enabled endpoint of its shop that wants the
    event), in the caller's transaction; delivery is queued on commit.
    `extra` is added to every RO's data (a stage change's from/to/source).

    Not decorated atomic: it only runs inside the writer's transaction (a
    repairs signal), and a savepoint would cost every batch two statements."""
    if not repair_order_ids:
        return []
    listening = [e for e in endpoints_listening(repair_order_ids=repair_order_ids) if e.wants(event_type)]
    if not listening:
        return []
    by_shop: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in listening:
        by_shop.setdefault(endpoint.shop_id, []).append(endpoint)
    now = timezone.now()
    at = at or now
    messages = []
    for ro in repair_orders_to_read(repair_order_ids=repair_order_ids):
        endpoints = by_shop.get(ro.shop_id)
        if not endpoints:
            continue
        body = message_body(event_type=event_type, timestamp=at, data=repair_order_json(ro) | (extra or {}))
        messages.extend(
            WebhookMessage(
                endpoint_id=endpoint.id,
                repair_order_id=ro.id,
                event_type=event_type,
                body=body,
                next_attempt_at=now,
            )
            for endpoint in endpoints
        )
    WebhookMessage.objects.bulk_create(messages)
    ids = [m.id for m in messages]
    transaction.on_commit(lambda: webhook_deliver_enqueue_many(ids))
    return messages


def stage_change_record(*, repair_order: RepairOrder, stage_change: StageChange) -> list[WebhookMessage]:
    return webhook_events_record(
        event_type=EventType.REPAIR_ORDER_STAGE_CHANGED,
        repair_order_ids=[repair_order.id],
        extra={
            "from_stage_id": stage_change.from_stage_id,
            "to_stage_id": stage_change.to_stage_id,
            "source": stage_change.source,
        },
        at=stage_change.changed_at,
    )


@transaction.atomic
def endpoint_test_send(*, endpoint_id: int) -> WebhookMessage:
    """A `webhook.test` message to this endpoint, whatever it subscribes to."""
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    now = timezone.now()
    message = WebhookMessage.objects.create(
        endpoint=endpoint,
        event_type=EventType.TEST,
        body=message_body(
            event_type=EventType.TEST,
            timestamp=now,
            data={
                "shop_id": endpoint.shop_id,
                "endpoint_id": endpoint.id,
                "message": "A test event from Shopboard.",
            },
        ),
        next_attempt_at=now,
    )
    transaction.on_commit(lambda: webhook_deliver_enqueue(message.id))
    return message


# ---- Delivery ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryReport:
    # "delivered", "failed", "retrying", "waiting" (head not due), "busy", "nothing".
    outcome: str
    # When the lane's head is due again, if this call owns that retry.
    retry_at: datetime | None = None


@dataclass(frozen=True)
class _Claim:
    message_id: int
    endpoint_id: int
    token: str
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
    message = (
        WebhookMessage.objects.filter(pk=message_id).values("id", "endpoint_id", "repair_order_id").first()
    )
    if message is None:
        return DeliveryReport("nothing")
    outcome = "nothing"
    attempted = False
    for _ in range(MAX_ROUNDS):
        claim, waiting_until = _claim_head(message)
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
            return DeliveryReport(
                outcome, _lane(message).filter(state=State.PENDING).aggregate(at=Min("next_attempt_at"))["at"]
            )
    # More to send than one call may: hand the lane to a fresh task.
    webhook_deliver_enqueue(message_id)
    return DeliveryReport(outcome)


def _claim_head(message: dict):
    """(claim, None), ("busy", None), (None, due_at) or (None, None)."""
    now = timezone.now()
    with transaction.atomic():
        while True:
            head = _lane(message).filter(state=State.PENDING).select_for_update().order_by("id").first()
            if head is None:
                return None, None
            if head.leased_until is not None and head.leased_until > now:
                return "busy", None
            if head.next_attempt_at is not None and head.next_attempt_at > now:
                return None, head.next_attempt_at
            endpoint = WebhookEndpoint.objects.get(pk=head.endpoint_id)
            if not endpoint.enabled:
                _message_fail(head.id, f"Endpoint disabled: {endpoint.disabled_reason or 'paused'}", now)
                continue
            attempt_number = head.attempt_count + 1
            if attempt_number > max_attempts():
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
            delay = delay_after_attempt(attempt_number)
            lease = settings.WEBHOOKS_TIMEOUT_SECONDS * 2 + LEASE_MARGIN_SECONDS
            token = uuid.uuid4().hex
            # Booked before sending: should this worker die mid-call, the
            # lease lapses and the planned backoff still applies.
            head.attempt_count = attempt_number
            head.next_attempt_at = now + timedelta(seconds=max(delay or 0, lease))
            head.leased_until = now + timedelta(seconds=lease)
            head.lease_token = token
            head.save(
                update_fields=[
                    "attempt_count",
                    "next_attempt_at",
                    "leased_until",
                    "lease_token",
                    "updated_at",
                ]
            )
            return _Claim(
                message_id=head.id,
                endpoint_id=endpoint.id,
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
    return _record(claim, result, attempted_at, permanent=permanent)


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
    # The fence: only the holder of the lease writes the outcome.
    held = WebhookMessage.objects.filter(pk=claim.message_id, state=State.PENDING, lease_token=claim.token)
    released = {"leased_until": None, "lease_token": "", "updated_at": now}
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
        _endpoint_disable(endpoint.id, "The endpoint answered 410 Gone.", now)
        return "failed"
    if failing_for.total_seconds() >= settings.WEBHOOKS_DISABLE_AFTER_SECONDS:
        days = failing_for.total_seconds() / 86400
        _endpoint_disable(
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
    delay = delay_after_attempt(claim.attempt_number) or 0
    wait = delay
    if result.retry_after_seconds is not None:
        wait = max(delay, min(result.retry_after_seconds, settings.WEBHOOKS_RETRY_MAX_DELAY_SECONDS))
    fields["next_attempt_at"] = now + timedelta(seconds=wait)
    held.update(**fields)
    return "retrying"


def _message_fail(message_id: int, reason: str, now: datetime) -> None:
    WebhookMessage.objects.filter(pk=message_id, state=State.PENDING).update(
        state=State.FAILED, last_error=reason, next_attempt_at=None, leased_until=None, updated_at=now
    )


# ---- Re-send and the sweep --------------------------------------------------------------------------------------


def _requeue(messages, now: datetime) -> int:
    return messages.update(
        state=State.PENDING,
        attempt_count=0,
        last_error="",
        next_attempt_at=now,
        leased_until=None,
        lease_token="",
        delivered_at=None,
        updated_at=now,
    )


@transaction.atomic
def webhook_message_resend(*, message_id: int) -> WebhookMessage:
    """Send a message again, now, with a fresh retry schedule and the same
    webhook-id (a receiver that already has it drops the copy)."""
    message = WebhookMessage.objects.select_for_update().select_related("endpoint").get(pk=message_id)
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
