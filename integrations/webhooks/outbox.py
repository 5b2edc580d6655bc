"""repairs' signals into the webhook outbox, in the writer's transaction."""

from django.dispatch import receiver

from repairs.signals import repair_orders_created, repair_orders_updated, stage_changed

from .events import EventType
from .services import stage_change_record, webhook_events_record


@receiver(repair_orders_created, dispatch_uid="integrations.webhooks.created")
def record_created(sender, *, repair_order_ids, shop_ids=None, **kwargs) -> None:
    webhook_events_record(
        event_type=EventType.REPAIR_ORDER_CREATED, repair_order_ids=repair_order_ids, shop_ids=shop_ids
    )


@receiver(repair_orders_updated, dispatch_uid="integrations.webhooks.updated")
def record_updated(sender, *, repair_order_ids, shop_ids=None, **kwargs) -> None:
    webhook_events_record(
        event_type=EventType.REPAIR_ORDER_UPDATED, repair_order_ids=repair_order_ids, shop_ids=shop_ids
    )


@receiver(stage_changed, dispatch_uid="integrations.webhooks.stage_changed")
def record_stage_changed(sender, *, repair_order, stage_change, **kwargs) -> None:
    stage_change_record(repair_order=repair_order, stage_change=stage_change)
