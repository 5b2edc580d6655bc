"""Handing a notification to the broker, safely.

Publishing happens after the move has committed (transaction.on_commit), so a
broker outage must neither fail nor hang the web request: the error is
logged and the notification stays pending in the outbox, where the sweep
finds it. After a failure this process skips publishing for a short while,
so that one outage costs one connection timeout, not one per move. Tasks are
sent by name so the services need not import the tasks module (which imports
the services).
"""

import logging
import time

from celery import current_app

logger = logging.getLogger(__name__)

DELIVER_TASK = "integrations.obs.tasks.obs_deliver"
# How long a process leaves the broker alone after a failed publish.
BROKER_BACKOFF_SECONDS = 10.0

_broker_down_until = 0.0


def obs_deliver_enqueue(notification_id: int, *, expires: float | None = None) -> bool:
    """Queue the delivery of one notification; False when it was not queued."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        logger.info(
            "Broker was unreachable moments ago; OBS notification %s left to the sweep", notification_id
        )
        return False
    try:
        current_app.send_task(DELIVER_TASK, args=[notification_id], expires=expires)
    except Exception:
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning(
            "Could not queue OBS notification %s; the outbox sweep will retry it",
            notification_id,
            exc_info=True,
        )
        return False
    return True
