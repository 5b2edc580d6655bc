"""Models of the edges: API keys, idempotency records, OBS settings, the delivery
fence, beacons; the outbox (delivery/models.py) and webhooks are imported below."""

import hashlib
import secrets

from django.db import models

from repairs.models import RepairOrder, Shop, Stage

API_KEY_PREFIX_LENGTH = 8


def hash_api_key(raw_key: str) -> str:
    # Keys are 256-bit random tokens, so a fast unsalted SHA-256 is enough:
    # there is nothing to brute-force, and lookups stay one indexed query.
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(models.Model):
    name = models.CharField(max_length=100)
    # The first characters of the key, kept in clear so a key can be found
    # and recognised in the admin without storing the key itself.
    prefix = models.CharField(max_length=API_KEY_PREFIX_LENGTH, unique=True)
    hashed_key = models.CharField(max_length=64, unique=True)
    shops = models.ManyToManyField(Shop, related_name="api_keys")
    # Requests per minute; null means settings.API_RATE_LIMIT_PER_MINUTE.
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def generate() -> str:
        return "sb_" + secrets.token_urlsafe(32)


class IdempotencyRecord(models.Model):
    """The first answer to a request sent with an Idempotency-Key (SPEC §3)."""

    # Indexed by idempotency_unique_key, which leads with it.
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    request_hash = models.CharField(max_length=64)
    # Null while the first request is still being processed.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "method", "key"], name="idempotency_unique_key"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]


class ObsSettings(models.Model):
    """Per-shop OBS overrides (SPEC §5). No row means: on, global URL and key."""

    shop = models.OneToOneField(Shop, on_delete=models.CASCADE, primary_key=True, related_name="obs_settings")
    enabled = models.BooleanField(default=True)
    update_url = models.URLField(blank=True, help_text="Empty: the global OBS_UPDATE_URL.")
    api_key = models.CharField(max_length=200, blank=True, help_text="Empty: the global OBS_API_KEY.")

    class Meta:
        verbose_name = "OBS settings"
        verbose_name_plural = "OBS settings"

    def __str__(self) -> str:
        return f"OBS settings of {self.shop}"


class ObsStatusMapping(models.Model):
    """A shop's own OBS status text for one stage (default: the stage id)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="obs_status_mappings")
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="+")
    obs_status = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "stage"], name="obs_mapping_unique_stage")]

    def __str__(self) -> str:
        return f"{self.stage} → {self.obs_status}"


class DeliveryFence(models.Model):
    """The lease of one RO's deliveries to one destination (integrations/delivery/locks.py):
    a fencing token bumped by every claim and re-checked after the call, and
    the time until which the claim holds the RO."""

    repair_order = models.ForeignKey(RepairOrder, on_delete=models.CASCADE, related_name="+")
    destination = models.CharField(max_length=30)
    token = models.PositiveBigIntegerField(default=0)
    held_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repair_order", "destination"], name="delivery_fence_unique")
        ]


class ObsReceivedUpdate(models.Model):
    """What the built-in demo OBS receiver got (DEBUG only)."""

    received_at = models.DateTimeField(auto_now_add=True)
    api_key = models.CharField(max_length=200, blank=True)
    body = models.JSONField()

    class Meta:
        ordering = ["-received_at", "-id"]


class BeaconZone(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="beacon_zones")
    zone_id = models.CharField(max_length=100)
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shop", "zone_id"], name="beacon_zone_unique_per_shop")
        ]

    def __str__(self) -> str:
        return f"{self.zone_id} → {self.stage}"


class BeaconTag(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="beacon_tags")
    beacon_id = models.CharField(max_length=100)
    repair_order = models.OneToOneField(
        RepairOrder, on_delete=models.SET_NULL, null=True, blank=True, related_name="beacon_tag"
    )
    paired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shop", "beacon_id"], name="beacon_tag_unique_per_shop")
        ]

    def __str__(self) -> str:
        return self.beacon_id


# The outbox and the webhook models live beside their code; importing them
# here makes them models of this app.
from .delivery.models import Attempt, Destination, Message  # noqa: E402, F401
from .obs.models import DeliveryAttempt, Notification  # noqa: E402, F401
from .webhooks.models import (  # noqa: E402, F401
    WebhookDemoReceipt,
    WebhookEndpoint,
    WebhookMessage,
)
