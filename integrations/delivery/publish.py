"""Handing a delivery task to the broker, safely, for every outbox.

Publishing happens after the writer's commit (transaction.on_commit), so a
broker outage must neither fail nor hang the web request: the error is
logged and the message stays pending in its outbox, where the sweep finds
it. After a failure this process leaves the broker alone for a short while,
whichever outbox publishes next: one outage costs one connection timeout,
not one per message. Tasks are sent by name so that services need not import
their tasks modules (which import the services).
"""

import logging
import time
from datetime import datetime

from celery import current_app

logger = logging.getLogger(__name__)

# How long a process leaves the broker alone after a failed publish.
BROKER_BACKOFF_SECONDS = 10.0

_broker_down_until = 0.0


def task_publish(
    task_name: str, args: list, *, what: str, expires: float | None = None, eta: datetime | None = None
) -> bool:
    """Queue one task; False when it was not queued (`what` names it in the log)."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        logger.info("Broker was unreachable moments ago; %s left to the sweep", what)
        return False
    try:
        current_app.send_task(task_name, args=args, expires=expires, eta=eta)
    except Exception:
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning("Could not queue %s; the outbox sweep will retry it", what, exc_info=True)
        return False
    return True
