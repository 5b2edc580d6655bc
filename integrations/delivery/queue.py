"""Queueing deliveries: the one task, through the shared publish path (publish.py)."""

from .publish import task_publish

DELIVER_TASK = "integrations.delivery.tasks.message_deliver_task"
FAN_OUT_TASK = "integrations.delivery.tasks.messages_fan_out"
# More messages than this from one commit (a batch of ROs to several
# endpoints) are published by a worker, so the writer's request does not
# wait for thousands of publishes.
FAN_OUT_ABOVE = 20
FAN_OUT_CHUNK = 500


def message_deliver_enqueue(message_id: int, *, what: str = "", expires: float | None = None) -> bool:
    """Queue the delivery of one message's lane; False when it was not queued.
    `what` names it in the log ("OBS notification 7")."""
    return task_publish(DELIVER_TASK, [message_id], what=what or f"message {message_id}", expires=expires)


def message_deliver_enqueue_many(message_ids) -> int:
    message_ids = list(message_ids)
    if len(message_ids) <= FAN_OUT_ABOVE:
        return sum(message_deliver_enqueue(message_id) for message_id in message_ids)
    queued = 0
    for start in range(0, len(message_ids), FAN_OUT_CHUNK):
        chunk = message_ids[start : start + FAN_OUT_CHUNK]
        if not task_publish(FAN_OUT_TASK, [chunk], what=f"{len(chunk)} messages"):
            break
        queued += len(chunk)
    return queued
