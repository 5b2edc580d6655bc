"""Handing a notification to the broker, safely.

Publishing happens after the move has committed (transaction.on_commit), so a
broker outage must neither fail nor hang the web request: the error is
logged and the notification stays pending in the outbox, where the sweep
finds it. Tasks are sent by name so the services need not import the tasks
module (which imports the services).
"""

import logging

from celery import current_app

logger = logging.getLogger(__name__)

DELIVER_TASK = "integrations.obs.tasks.obs_deliver"


def obs_deliver_enqueue(notification_id: int, *, expires: float | None = None) -> bool:
    """Queue the delivery of one notification; False when the broker refused."""
    try:
        current_app.send_task(DELIVER_TASK, args=[notification_id], expires=expires)
    except Exception:
        logger.warning(
            "Could not queue OBS notification %s; the outbox sweep will retry it", notification_id, exc_info=True
        )
        return False
    return True
