"""Delivering webhook messages: the one delivery engine
(integrations/delivery/services.py) with the webhook adapter
(integrations/webhooks/adapter.py); re-sends of an endpoint's messages."""

from django.db import transaction

from ...delivery.services import (  # noqa: F401  (the webhooks' names for the engine's)
    MAX_ROUNDS,
    DeliveryReport,
    NotResendable,
    message_deliver,
    message_resend,
    messages_resend,
)
from ..models import WebhookEndpoint, WebhookMessage

State = WebhookMessage.State


def webhook_message_deliver(*, message_id: int) -> DeliveryReport:
    """Send the due messages of the message's lane (its endpoint and RO), in order."""
    return message_deliver(message_id=message_id)


def webhook_message_resend(*, message_id: int) -> WebhookMessage:
    """Send a message again, now, with a fresh retry schedule and the same
    webhook-id (a receiver that already has it drops the copy)."""
    message_resend(message_id=message_id)
    return WebhookMessage.objects.get(pk=message_id)


@transaction.atomic
def webhook_messages_resend_failed(*, endpoint_id: int) -> int:
    """Every failed message of an endpoint, again, in their lanes' order."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    if not endpoint.enabled:
        raise NotResendable("The endpoint is disabled: enable it first.")
    failed = WebhookMessage.objects.filter(endpoint_id=endpoint_id, state=State.FAILED)
    return messages_resend(message_ids=list(failed.order_by("id").values_list("id", flat=True)))
