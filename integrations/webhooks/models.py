"""Webhook endpoints, and the webhook view of the one outbox (SPEC §9).

Imported by integrations/models.py, so these are models of the
`integrations` app (one migration history for the edges).
"""

from urllib.parse import urlsplit

from django.db import models

from repairs.models import Shop

from ..delivery.models import Destination, Message
from ..delivery.models import public_id_new as message_id_new  # noqa: F401  (migration 0003 names it)
from .events import EventType


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


class _WebhookMessages(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(destination=Destination.WEBHOOK)


class WebhookMessage(Message):
    """The webhook view of the one outbox (integrations/delivery/models.py):
    one event for one endpoint, signed and sent by the worker."""

    objects = _WebhookMessages()

    class Meta:
        proxy = True

    def save(self, *args, **kwargs):
        self.destination = Destination.WEBHOOK
        super().save(*args, **kwargs)

    @property
    def webhook_id(self) -> str:
        # Standard Webhooks' name for the message's public id.
        return self.public_id


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
