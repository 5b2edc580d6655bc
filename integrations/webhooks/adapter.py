"""A webhook endpoint as a destination of the one delivery engine (SPEC §9).

In order: every event matters, so one RO's messages to one endpoint go out
oldest first, each until delivered or failed. The body was fixed when the
event happened; the signature is made per attempt (Standard Webhooks), with
the endpoint's live secrets, and sent through the guarded transport. A
failure starts (or continues) the endpoint's failure clock: 410 Gone
disables it at once, WEBHOOKS_DISABLE_AFTER_SECONDS of failure too.
"""

import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.urls import reverse

from ..delivery.adapters import Refused, SendResult
from ..delivery.models import Destination, Message
from ..delivery.policy import RetryPolicy
from . import transport
from .models import WebhookEndpoint
from .schedule import webhook_retry_policy
from .secrets import SecretUnreadable
from .selectors import secrets_live
from .services.endpoints import endpoint_disable
from .signing import signed_headers

# How long past the HTTP timeout a lease outlives its worker.
LEASE_MARGIN_SECONDS = 30


@dataclass(frozen=True)
class SignedMessage:
    url: str
    secrets: list[str]
    public_id: str
    body: str


class WebhookAdapter:
    kind = Destination.WEBHOOK
    latest_only = False

    def policy(self) -> RetryPolicy:
        return webhook_retry_policy()

    def lease_seconds(self) -> float:
        return settings.WEBHOOKS_TIMEOUT_SECONDS * 2 + LEASE_MARGIN_SECONDS

    def sweep_grace_seconds(self) -> float:
        return settings.WEBHOOKS_SWEEP_GRACE_SECONDS

    def prepare(self, message: Message, now: datetime) -> SignedMessage:
        endpoint = message.endpoint  # loaded with the claimed message
        if not endpoint.enabled:
            raise Refused(f"Endpoint disabled: {endpoint.disabled_reason or 'paused'}")
        try:
            secrets = secrets_live(endpoint, now=now)
        except SecretUnreadable as exc:
            raise Refused(str(exc)) from exc
        return SignedMessage(
            url=endpoint.url, secrets=secrets, public_id=message.public_id, body=message.body
        )

    def send(self, prepared: SignedMessage, message: Message) -> SendResult:
        headers = signed_headers(
            secrets=prepared.secrets,
            webhook_id=prepared.public_id,
            timestamp=int(time.time()),
            body=prepared.body,
        )
        try:
            result = transport.post_message(url=prepared.url, body=prepared.body, headers=headers)
        except transport.UrlRefused as refused:
            return SendResult(False, None, f"Refused: {refused}", "", 0, permanent=True)
        return SendResult(
            delivered=result.delivered,
            http_status=result.http_status,
            error=result.error,
            response_excerpt=result.response_excerpt,
            duration_ms=result.duration_ms,
            permanent=result.gone,
            retry_after_seconds=result.retry_after_seconds,
        )

    def on_delivered(self, message: Message, now: datetime) -> None:
        # The endpoint as the claim read it: a healthy one (nearly always)
        # costs no statement. One whose failure clock a concurrent failure
        # started after that read is stopped by its next delivery instead.
        if message.endpoint.failing_since is None:
            return
        WebhookEndpoint.objects.filter(pk=message.endpoint_id, failing_since__isnull=False).update(
            failing_since=None
        )

    def on_failure(self, message: Message, result: SendResult, attempted_at: datetime, now: datetime) -> bool:
        """The endpoint's failure clock; True when the endpoint was disabled
        (which fails this message and every other pending one of it)."""
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=message.endpoint_id)
        if endpoint.failing_since is None:
            endpoint.failing_since = attempted_at
            endpoint.save(update_fields=["failing_since"])
        if result.http_status == 410:
            endpoint_disable(endpoint.id, "The endpoint answered 410 Gone.", now)
            return True
        failing_for = now - endpoint.failing_since
        if failing_for.total_seconds() >= settings.WEBHOOKS_DISABLE_AFTER_SECONDS:
            days = failing_for.total_seconds() / 86400
            endpoint_disable(
                endpoint.id,
                f"Every delivery failed for {days:.1f} days (since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC). "
                f"Last: {result.error}",
                now,
            )
            return True
        return False

    def resend_refusal(self, message: Message, *, newest: bool | None = None) -> str:
        """Any message of an enabled endpoint that is not on its way already
        (a receiver that has it drops the copy: same webhook-id)."""
        if not message.endpoint.enabled:
            return "The endpoint is disabled: enable it first."
        if message.state == Message.State.PENDING:
            return "This message is still being sent."
        return ""

    def resend_url(self, message: Message, *, shop_id: int) -> str:
        return reverse("webhook_message_resend", args=[shop_id, message.endpoint_id, message.id])

    def card_watch(self, repair_order_id: int | None):
        return nullcontext()  # no card shows a webhook's state

    def cards_watch(self, repair_order_ids: list[int]):
        return nullcontext()

    def card_may_change(self, message: Message, *, delivered: bool, now: datetime) -> bool:
        return False


WEBHOOK_ADAPTER = WebhookAdapter()
