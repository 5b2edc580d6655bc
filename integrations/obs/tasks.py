"""Celery tasks of the OBS integration: take ids, call one service."""

from celery import shared_task
from django.conf import settings

from .services import MAX_ROUNDS, notification_deliver, notifications_requeue_due

# Hard and soft limits above one HTTP call (OBS_TIMEOUT_SECONDS) times the
# rounds a delivery may run; the soft one lets the lock be released cleanly.
_ROUND_SECONDS = settings.OBS_TIMEOUT_SECONDS + 5


@shared_task(
    bind=True,
    acks_late=True,
    # Retries are scheduled by the notification's own backoff (schedule.py),
    # which ends after the retry window; this cap only stops a runaway loop.
    max_retries=200,
    soft_time_limit=_ROUND_SECONDS * MAX_ROUNDS,
    time_limit=_ROUND_SECONDS * MAX_ROUNDS + 15,
)
def obs_deliver(self, notification_id: int) -> str:
    report = notification_deliver(notification_id=notification_id)
    if report.retry_at is not None:
        raise self.retry(eta=report.retry_at, countdown=None)
    return report.outcome


@shared_task(soft_time_limit=60, time_limit=90)
def obs_sweep() -> int:
    return notifications_requeue_due()
