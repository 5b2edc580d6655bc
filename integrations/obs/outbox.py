"""The outbox: every stage change of an OBS RO becomes a Notification row in
the move's own transaction (repairs sends stage_changed inside it), so the
change and its notification commit or roll back together."""

from django.dispatch import receiver

from repairs.signals import stage_changed

from .services import notification_record


@receiver(stage_changed, dispatch_uid="integrations.obs.outbox")
def record_obs_notification(sender, *, repair_order, stage_change, **kwargs) -> None:
    notification_record(repair_order=repair_order, stage_change=stage_change)
