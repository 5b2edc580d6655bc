"""Celery tasks of the webhooks: take ids, call one service."""

from celery import shared_task
from django.conf import settings

from .queue import webhook_deliver_enqueue
from .services import MAX_ROUNDS, webhook_message_deliver, webhook_messages_requeue_due

_ROUND_SECONDS = settings.WEBHOOKS_TIMEOUT_SECONDS + 5


@shared_task(
    bind=True,
    acks_late=True,
    # The message's own schedule (schedule.py) ends after the window; this cap stops a runaway loop only.
    max_retries=500,
    soft_time_limit=_ROUND_SECONDS * MAX_ROUNDS,
    time_limit=_ROUND_SECONDS * MAX_ROUNDS + 15,
)
def webhook_deliver(self, message_id: int) -> str:
    report = webhook_message_deliver(message_id=message_id)
    if report.retry_at is not None:
        raise self.retry(eta=report.retry_at, countdown=None)
    return report.outcome


@shared_task(soft_time_limit=60, time_limit=90)
def webhooks_sweep() -> int:
    return webhook_messages_requeue_due()


@shared_task(soft_time_limit=60, time_limit=90)
def webhooks_fan_out(message_ids: list[int]) -> int:
    """One delivery task per message, published from a worker (queue.py)."""
    return sum(webhook_deliver_enqueue(message_id) for message_id in message_ids)
