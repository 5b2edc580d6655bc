"""The Celery tasks of the one outbox: take ids, call one service."""

from celery import shared_task
from django.conf import settings

from .queue import message_deliver_enqueue
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


@shared_task(name=SWEEP_TASK, soft_time_limit=60, time_limit=90)
def outbox_sweep() -> int:
    return messages_requeue_due()


@shared_task(soft_time_limit=60, time_limit=90)
def messages_fan_out(message_ids: list[int]) -> int:
    """One delivery task per message, published from a worker (queue.py)."""
    return sum(message_deliver_enqueue(message_id) for message_id in message_ids)
