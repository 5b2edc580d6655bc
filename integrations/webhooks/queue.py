"""Queueing webhook deliveries: the shared publish path (integrations/delivery/publish.py)."""

from ..delivery.publish import task_publish

DELIVER_TASK = "integrations.webhooks.tasks.webhook_deliver"
FAN_OUT_TASK = "integrations.webhooks.tasks.webhooks_fan_out"
# More messages than this from one commit (a batch of ROs to several
# endpoints) are published by a worker, so the writer's request does not
# wait for thousands of publishes.
FAN_OUT_ABOVE = 20
FAN_OUT_CHUNK = 500


def webhook_deliver_enqueue(message_id: int, *, expires: float | None = None) -> bool:
    """Queue the delivery of one message's lane; False when it was not queued."""
    return task_publish(DELIVER_TASK, [message_id], what=f"webhook message {message_id}", expires=expires)


def webhook_deliver_enqueue_many(message_ids) -> int:
    message_ids = list(message_ids)
    if len(message_ids) <= FAN_OUT_ABOVE:
        return sum(webhook_deliver_enqueue(message_id) for message_id in message_ids)
    queued = 0
    for start in range(0, len(message_ids), FAN_OUT_CHUNK):
        chunk = message_ids[start : start + FAN_OUT_CHUNK]
        if not task_publish(FAN_OUT_TASK, [chunk], what=f"{len(chunk)} webhook messages"):
            break
        queued += len(chunk)
    return queued
