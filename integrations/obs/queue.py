"""Queueing an OBS delivery: the one delivery task (integrations/delivery/queue.py)."""

from ..delivery.queue import message_deliver_enqueue


def obs_deliver_enqueue(notification_id: int, *, expires: float | None = None) -> bool:
    """Queue the delivery of one notification; False when it was not queued."""
    return message_deliver_enqueue(
        notification_id, what=f"OBS notification {notification_id}", expires=expires
    )
