"""The one outbox: messages to destinations, and every attempt (SPEC §5, §9).

A destination is OBS (the RO's shop's OBS) or one webhook endpoint. One
table of messages and one of attempts serve both; destination kinds differ
only by their adapter (integrations/delivery/adapters.py). Imported by
integrations/models.py, so these are models of the `integrations` app.

The OBS and webhook code reads the same rows through proxies that keep its
own words (integrations/obs/models.py `Notification`, `DeliveryAttempt`;
integrations/webhooks/models.py `WebhookMessage`): one storage, two views.
"""

import uuid

from django.db import models
from django.db.models import Q

from repairs.models import RepairOrder, Stage, StageChange


def public_id_new() -> str:
    # What a receiver dedupes on (the `webhook-id` header): unique per
    # message, the same for every attempt of it.
    return f"msg_{uuid.uuid4().hex}"


class Destination(models.TextChoices):
    """The kinds of destination; a message's lane is its kind, its endpoint
    (webhooks) and its RO."""

    OBS = "obs", "OBS"
    WEBHOOK = "webhook", "Webhook"


class Message(models.Model):
    """Outbox row: one event for one destination, sent by the worker."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        # OBS: a newer message of the same lane was delivered first.
        OBSOLETE = "obsolete", "Obsolete"

    destination = models.CharField(max_length=20, choices=Destination.choices)
    # The webhook endpoint (webhooks only; OBS is the shop's).
    # Indexed by message_endpoint_idx, which leads with it.
    endpoint = models.ForeignKey(
        "integrations.WebhookEndpoint",
        on_delete=models.CASCADE,
        related_name="messages",
        null=True,
        blank=True,
        db_index=False,
    )
    # None for a webhook test message; one RO's messages to one destination
    # go out in order. Indexed by message_lane_idx, which leads with it.
    repair_order = models.ForeignKey(
        RepairOrder,
        on_delete=models.CASCADE,
        related_name="delivery_messages",
        null=True,
        blank=True,
        db_index=False,
    )
    # OBS: the stage change reported (None for a re-sent copy).
    stage_change = models.ForeignKey(
        StageChange, on_delete=models.CASCADE, related_name="delivery_messages", null=True, blank=True
    )
    # OBS: the stage reported, and the RO's OBS id when it changed stage.
    stage = models.ForeignKey(
        Stage, on_delete=models.PROTECT, related_name="+", null=True, blank=True, db_index=False
    )
    obs_event_id = models.CharField(max_length=100, blank=True)
    public_id = models.CharField(max_length=40, unique=True, default=public_id_new)
    event_type = models.CharField(max_length=60)
    # Webhooks: the exact bytes sent (UTF-8 JSON), fixed when the event
    # happened. OBS: empty (its body names the shop's status text at send time).
    body = models.TextField(blank=True)
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
            # The sweep's read: only pending rows, a few among millions delivered.
            models.Index(
                fields=["next_attempt_at"], condition=Q(state="pending"), name="message_pending_due_idx"
            ),
            # A lane, in order: OBS's per RO, a webhook endpoint's per RO.
            models.Index(fields=["repair_order", "destination", "endpoint", "id"], name="message_lane_idx"),
            # An endpoint's log, its failed messages, its pending ones.
            models.Index(fields=["endpoint", "id"], name="message_endpoint_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_destination_display()} {self.public_id} {self.event_type} ({self.state})"


class Attempt(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField()
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # What went wrong, in words (empty on success).
    error = models.TextField(blank=True)
    # The start of the answer (OBS: its message).
    response_excerpt = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField()

    class Meta:
        ordering = ["-attempted_at", "-id"]

    @property
    def outcome_text(self) -> str:
        """What a person reads about this attempt: the error, else the answer."""
        return self.error or self.response_excerpt
