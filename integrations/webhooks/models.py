"""Webhook endpoints, their outbox of messages, and every attempt (SPEC §9).

Imported by integrations/models.py, so these are models of the
`integrations` app (one migration history for the edges).
"""

import uuid
from urllib.parse import urlsplit

from django.db import models

from repairs.models import RepairOrder, Shop

from .events import EventType


def message_id_new() -> str:
    # `webhook-id`: unique per message, the same for every attempt of it.
    return f"msg_{uuid.uuid4().hex}"


class WebhookEndpoint(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    # Event types (EventType values), or [EventType.ALL] for every one.
    events = models.JSONField(default=list)
    description = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    # Why it was disabled (empty when a manager paused it): 410, or 5 days failing.
    disabled_reason = models.TextField(blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Encrypted with WEBHOOKS_SECRET_KEY (secrets.py): a dump alone does not sign.
    secret_encrypted = models.TextField()
    # The secret before the last rotation, still signing until previous_secret_until.
    previous_secret_encrypted = models.TextField(blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    # The first failed attempt since the last delivered one (None: healthy).
    failing_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["shop", "enabled"], name="webhook_endpoint_shop_idx")]

    def __str__(self) -> str:
        return f"{self.url} ({'enabled' if self.enabled else 'disabled'})"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or self.url

    def wants(self, event_type: str) -> bool:
        return EventType.ALL in self.events or event_type in self.events


class WebhookMessage(models.Model):
    """Outbox row: one event for one endpoint, signed and sent by the worker."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="messages")
    # None for a test message; an RO's messages to one endpoint go out in order.
    repair_order = models.ForeignKey(
        RepairOrder, on_delete=models.CASCADE, related_name="webhook_messages", null=True, blank=True
    )
    webhook_id = models.CharField(max_length=40, unique=True, default=message_id_new)
    event_type = models.CharField(max_length=60)
    # The exact bytes sent (UTF-8 JSON), fixed when the event happened.
    body = models.TextField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="webhook_message_due_idx"),
            models.Index(fields=["endpoint", "repair_order", "id"], name="webhook_message_lane_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.webhook_id} {self.event_type} ({self.state})"


class WebhookAttempt(models.Model):
    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField()
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # What went wrong, in words (empty on success).
    error = models.TextField(blank=True)
    # The start of the answer (WEBHOOKS_RESPONSE_MAX_BYTES at most).
    response_excerpt = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField()

    class Meta:
        ordering = ["-attempted_at", "-id"]


class WebhookDemoReceipt(models.Model):
    """What the built-in demo receiver got (DEBUG only), and whether it verified."""

    received_at = models.DateTimeField(auto_now_add=True)
    webhook_id = models.CharField(max_length=100)
    event_type = models.CharField(max_length=60, blank=True)
    body = models.TextField()
    verified = models.BooleanField()
    verification_error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
