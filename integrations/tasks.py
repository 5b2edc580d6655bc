"""Housekeeping tasks of the API edge (found by Celery's autodiscovery)."""

from celery import shared_task

from .idempotency import idempotency_purge


@shared_task(soft_time_limit=120, time_limit=150)
def idempotency_records_purge() -> int:
    """Drop Idempotency-Key answers past their 24 hours."""
    return idempotency_purge()
