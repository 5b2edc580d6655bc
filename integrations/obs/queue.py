"""Queueing an OBS delivery: the shared publish path (integrations/delivery/publish.py)."""

from ..delivery.publish import task_publish

DELIVER_TASK = "integrations.obs.tasks.obs_deliver"


def obs_deliver_enqueue(notification_id: int, *, expires: float | None = None) -> bool:
    """Queue the delivery of one notification; False when it was not queued."""
    return task_publish(
        DELIVER_TASK, [notification_id], what=f"OBS notification {notification_id}", expires=expires
    )
