"""Handing a message's delivery to the broker, after the commit.

As for OBS (integrations/obs/queue.py): a broker outage must neither fail nor
hang the writer's request; the message stays pending and the sweep finds it.
Sent by name, so services need not import tasks.
"""

import logging
import time

from celery import current_app

logger = logging.getLogger(__name__)

DELIVER_TASK = "integrations.webhooks.tasks.webhook_deliver"
FAN_OUT_TASK = "integrations.webhooks.tasks.webhooks_fan_out"
FAN_OUT_ABOVE = 20
FAN_OUT_CHUNK = 500
BROKER_BACKOFF_SECONDS = 10.0

_broker_down_until = 0.0


def webhook_deliver_enqueue(message_id: int, *, expires: float | None = None) -> bool:
    """Queue the delivery of one message's lane; False when it was not queued."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return False
    try:
        current_app.send_task(DELIVER_TASK, args=[message_id], expires=expires)
    except Exception:
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning(
            "Could not queue webhook message %s; the sweep will retry it", message_id, exc_info=True
        )
        return False
    return True


def webhook_deliver_enqueue_many(message_ids) -> int:
    """Queue many messages' deliveries. A few are published here; more (a
    batch of 1,000 ROs to 3 endpoints) go as one fan-out task per chunk, so
    the writer's request does not wait for thousands of publishes."""
    message_ids = list(message_ids)
    if len(message_ids) <= FAN_OUT_ABOVE:
        return sum(webhook_deliver_enqueue(message_id) for message_id in message_ids)
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return 0
    queued = 0
    try:
        for start in range(0, len(message_ids), FAN_OUT_CHUNK):
            chunk = message_ids[start : start + FAN_OUT_CHUNK]
            current_app.send_task(FAN_OUT_TASK, args=[chunk])
            queued += len(chunk)
    except Exception:
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning("Could not queue webhook messages; the sweep will retry them", exc_info=True)
    return queued
