"""Writes of the OBS integration: record, deliver, re-send (SPEC §5).

A notification is a message of the one outbox to OBS
(integrations/delivery/): recorded here in the move's transaction,
delivered, retried, ordered and swept by the one engine
(integrations/delivery/services.py), with OBS's rules in its adapter
(integrations/obs/adapter.py): only an RO's newest notification is sent,
older ones become obsolete, OBS never ends on an older stage.
"""

from django.db import transaction
from django.utils import timezone

from repairs.models import RepairOrder, StageChange

from ..delivery.queue import messages_deliver_on_commit
from ..delivery.services import (  # noqa: F401  (OBS's names for the engine's)
    MAX_ROUNDS,
    DeliveryOutcome,
    DeliveryReport,
    NotResendable,
    message_deliver,
    message_resend,
    messages_requeue_due,
)
from .models import Notification
from .selectors import obs_enabled_for


@transaction.atomic
def notification_record(*, repair_order: RepairOrder, stage_change: StageChange) -> Notification | None:
    """The outbox row for a stage change, in the caller's transaction, when the
    RO came from OBS and the shop reports to OBS. Queues its delivery for
    after the commit, in one task with the commit's other messages."""
    if not repair_order.obs_event_id or not obs_enabled_for(shop_id=repair_order.shop_id):
        return None
    notification = Notification.objects.create(
        repair_order=repair_order,
        stage_change=stage_change,
        obs_event_id=repair_order.obs_event_id,
        stage_id=stage_change.to_stage_id,
        next_attempt_at=timezone.now(),
    )
    messages_deliver_on_commit([notification.id], what=f"OBS notification {notification.id}")
    return notification


def notification_deliver(*, notification_id: int) -> DeliveryReport:
    """Deliver what is due for the notification's RO (its newest notification)."""
    return message_deliver(message_id=notification_id)


def notification_resend(*, notification_id: int) -> Notification:
    """Queue a failed (or still pending) notification again, now, with a fresh
    retry schedule. Only the RO's newest notification can be re-sent."""
    if not Notification.objects.filter(pk=notification_id).exists():
        raise Notification.DoesNotExist
    message_resend(message_id=notification_id)
    return Notification.objects.get(pk=notification_id)
