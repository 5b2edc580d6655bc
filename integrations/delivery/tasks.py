"""The Celery tasks of the one outbox: take ids, call one service."""

from celery import shared_task
from django.conf import settings

from .batch import WAVE_SECONDS, messages_deliver
from .services import MAX_ROUNDS, message_deliver, messages_requeue_due

# The sweep's registered name comes from the days when OBS had the only
# outbox: running beats, sweeper workers and log watchers know it by it.
SWEEP_TASK = settings.DELIVERY_SWEEP_TASK

# Hard and soft limits above one HTTP call (the longest timeout of any
# destination) times the rounds a delivery may run; the soft one lets the
# lock be released cleanly.
_ROUND_SECONDS = max(settings.OBS_TIMEOUT_SECONDS, settings.WEBHOOKS_TIMEOUT_SECONDS) + 5


@shared_task(
    bind=True,
    acks_late=True,
    # Retries are scheduled by the message's own backoff (its destination's
    # policy), which ends after the retry window; this cap only stops a runaway loop.
    max_retries=500,
    soft_time_limit=_ROUND_SECONDS * MAX_ROUNDS,
    time_limit=_ROUND_SECONDS * MAX_ROUNDS + 15,
)
def message_deliver_task(self, message_id: int) -> str:
    report = message_deliver(message_id=message_id)
    if report.retry_at is not None:
        raise self.retry(eta=report.retry_at, countdown=None)
    return report.outcome


@shared_task(
    acks_late=True,
    soft_time_limit=(_ROUND_SECONDS + WAVE_SECONDS) * MAX_ROUNDS,
    time_limit=(_ROUND_SECONDS + WAVE_SECONDS) * MAX_ROUNDS + 15,
)
def messages_deliver_task(message_ids: list[int]) -> str:
    """One commit's messages (OBS and every webhook endpoint), their lanes
    together (batch.py); a lane that must wait for its retry gets a one-lane
    task at that time."""
    return str(messages_deliver(message_ids=message_ids))


@shared_task(name=SWEEP_TASK, soft_time_limit=60, time_limit=90)
def outbox_sweep() -> int:
    return messages_requeue_due()


@shared_task(soft_time_limit=60, time_limit=90)
def messages_fan_out(message_ids: list[int]) -> int:
    """The batch tasks of a big commit, published from a worker (queue.py)."""
    from . import queue

    queued = 0
    for start in range(0, len(message_ids), queue.BATCH_MAX_MESSAGES):
        batch = message_ids[start : start + queue.BATCH_MAX_MESSAGES]
        if not queue.task_publish(queue.BATCH_TASK, [batch], what=f"{len(batch)} messages"):
            break
        queued += len(batch)
    return queued
