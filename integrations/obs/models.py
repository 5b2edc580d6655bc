"""The OBS view of the one outbox (integrations/delivery/models.py).

`Notification` is a message to OBS and `DeliveryAttempt` one of its
attempts, in OBS's words (SPEC §5): the same rows as every other
destination's, read and written through proxies that keep to OBS's kind.
"""

from django.db import models

from ..delivery.models import Attempt, Destination, Message
from ..webhooks.events import EventType


class _ObsMessages(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(destination=Destination.OBS)


class Notification(Message):
    """A message to OBS: one stage change of an RO that came from OBS."""

    objects = _ObsMessages()

    class Meta:
        proxy = True

    def save(self, *args, **kwargs):
        self.destination = Destination.OBS
        self.event_type = EventType.REPAIR_ORDER_STAGE_CHANGED
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"OBS {self.obs_event_id} → stage {self.stage_id} ({self.state})"

    @property
    def attempts(self) -> models.QuerySet["DeliveryAttempt"]:
        # Its attempts in OBS's words (`message`: what OBS said).
        return DeliveryAttempt.objects.filter(message_id=self.pk)


class _ObsAttempts(models.QuerySet):
    """`notification` is OBS's name for an attempt's message."""

    def _filter_or_exclude(self, negated, args, kwargs):
        kwargs = {
            ("message" + key.removeprefix("notification") if key.startswith("notification") else key): value
            for key, value in kwargs.items()
        }
        return super()._filter_or_exclude(negated, args, kwargs)


class DeliveryAttempt(Attempt):
    """One attempt of a message to OBS; `message` is what OBS said."""

    objects = _ObsAttempts.as_manager()

    class Meta:
        proxy = True

    def __init__(self, *args, **kwargs):
        if "message" in kwargs:
            kwargs["error"] = kwargs.pop("message")
        if "notification" in kwargs:
            kwargs["message_id"] = kwargs.pop("notification").pk
        elif "notification_id" in kwargs:
            kwargs["message_id"] = kwargs.pop("notification_id")
        super().__init__(*args, **kwargs)

    @property
    def message(self) -> str:
        return self.outcome_text

    @property
    def notification(self) -> Notification:
        return Notification.objects.get(pk=self.message_id)
