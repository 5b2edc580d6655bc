"""The event catalogue (SPEC §9, docs/webhooks.md)."""

from enum import StrEnum


class EventType(StrEnum):
    REPAIR_ORDER_CREATED = "repair_order.created"
    # A batch PATCH, or a team edit on the board.
    REPAIR_ORDER_UPDATED = "repair_order.updated"
    REPAIR_ORDER_STAGE_CHANGED = "repair_order.stage_changed"
    # Sent only by "send test"; never subscribed to.
    TEST = "webhook.test"
    # In an endpoint's list: every event.
    ALL = "*"


SUBSCRIBABLE = (
    EventType.REPAIR_ORDER_CREATED,
    EventType.REPAIR_ORDER_UPDATED,
    EventType.REPAIR_ORDER_STAGE_CHANGED,
)
