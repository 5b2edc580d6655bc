"""Queueing deliveries through the shared publish path (publish.py).

A writer's commit is delivered by one task, whatever number of messages
and destinations it made (OBS and every webhook endpoint's lane: batch.py):
`messages_deliver_on_commit` gathers every message the transaction records,
from every recorder, and publishes them once after the commit. The one-lane
task (`message_deliver_enqueue`) is for a lane on its own: the sweep, a
re-send, a retry at its backoff.
"""

from datetime import datetime

from django.db import transaction

from .publish import task_publish

DELIVER_TASK = "integrations.delivery.tasks.message_deliver_task"
BATCH_TASK = "integrations.delivery.tasks.messages_deliver_task"
FAN_OUT_TASK = "integrations.delivery.tasks.messages_fan_out"
# Messages per batch task: a commit of more (a batch of ROs to several
# endpoints) is split, so one task's sends and statements stay bounded.
BATCH_MAX_MESSAGES = 32
# More batch tasks than this from one commit are published by a worker, so
# the writer's request does not wait for hundreds of publishes.
FAN_OUT_ABOVE = 4
FAN_OUT_CHUNK = 2000


def message_deliver_enqueue(
    message_id: int, *, what: str = "", expires: float | None = None, eta: datetime | None = None
) -> bool:
    """Queue the delivery of one message's lane; False when it was not queued.
    `what` names it in the log ("OBS notification 7")."""
    return task_publish(
        DELIVER_TASK, [message_id], what=what or f"message {message_id}", expires=expires, eta=eta
    )


def _batches(message_ids: list[int]) -> list[list[int]]:
    return [message_ids[i : i + BATCH_MAX_MESSAGES] for i in range(0, len(message_ids), BATCH_MAX_MESSAGES)]


def messages_deliver_enqueue(message_ids, *, what: str = "") -> int:
    """Queue the delivery of these messages' lanes together (one task per
    BATCH_MAX_MESSAGES); how many messages were queued. `what` names them in
    the log ("OBS notification 7, webhook messages 8, 9, 10")."""
    message_ids = sorted(set(message_ids))
    if not message_ids:
        return 0
    batches = _batches(message_ids)
    if len(batches) > FAN_OUT_ABOVE:
        queued = 0
        for start in range(0, len(message_ids), FAN_OUT_CHUNK):
            chunk = message_ids[start : start + FAN_OUT_CHUNK]
            if not task_publish(FAN_OUT_TASK, [chunk], what=f"{len(chunk)} messages"):
                break
            queued += len(chunk)
        return queued
    queued = 0
    for batch in batches:
        named = what if len(batches) == 1 and what else f"messages {batch[0]}…{batch[-1]} ({len(batch)})"
        if not task_publish(BATCH_TASK, [batch], what=named):
            break
        queued += len(batch)
    return queued


# Kept for callers that queue many lanes at once (re-sends): the same batched path.
message_deliver_enqueue_many = messages_deliver_enqueue


class _CommitBatch:
    """The messages one transaction recorded, published once after its commit."""

    def __init__(self) -> None:
        self.message_ids: list[int] = []
        self.names: list[str] = []

    def __call__(self) -> None:
        messages_deliver_enqueue(self.message_ids, what=", ".join(self.names))


def messages_deliver_on_commit(message_ids, *, what: str) -> None:
    """Queue these messages' delivery after the current transaction commits,
    in one task with every other message the same transaction records (the
    move's OBS notification and its webhook messages): one publish per commit.

    The batch is one on_commit callback of the transaction; a message
    recorded later joins it while that callback is still pending (it is
    dropped with a rolled-back savepoint it was registered in, and then the
    next message starts a new one, registered where it runs). Outside a
    transaction the messages are published at once. `what` names them in
    the log ("OBS notification 7")."""
    message_ids = list(message_ids)
    if not message_ids:
        return
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        messages_deliver_enqueue(message_ids, what=what)
        return
    batch = getattr(connection, "_delivery_commit_batch", None)
    if batch is None or not any(func is batch for _, func, _ in connection.run_on_commit):
        batch = _CommitBatch()
        connection._delivery_commit_batch = batch
        transaction.on_commit(batch)
    batch.message_ids.extend(message_ids)
    batch.names.append(what)
