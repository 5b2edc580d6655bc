"""The sweep runs on time whatever the delivery backlog (issue 14, defect 7):
a real delivery worker busy with a queue of slow OBS calls, a real sweeper
on the sweep's own queue, beat sending the sweep every second."""

import re
import time

import pytest
from django.conf import settings

from integrations.models import Notification
from repairs.services import repair_order_move
from tests.obs.support import FAST_OBS_ENV, Reply, Worker, database_url_of_test_db, make_obs_repair_order

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SWEEP_RAN = re.compile(r"Task integrations\.obs\.tasks\.obs_sweep\[[^\]]+\] succeeded")
SLOW_CALL_SECONDS = 1.5
BACKLOG = 10  # ROs, one slow call each: 15 s of work for one delivery process
WATCH_SECONDS = 8


@pytest.fixture
def delivery_and_sweeper(fake_obs_server, tmp_path):
    from shopboard.celery import app

    app.control.purge()
    env = {
        **FAST_OBS_ENV,
        "OBS_TIMEOUT_SECONDS": str(SLOW_CALL_SECONDS + 2),
        "DATABASE_URL": database_url_of_test_db(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "OBS_UPDATE_URL": fake_obs_server.url,
    }
    delivery = Worker(
        env=env, log_dir=tmp_path, concurrency=1, beat=True, queues=(settings.CELERY_TASK_DEFAULT_QUEUE,)
    )
    sweeper = Worker(env=env, log_dir=tmp_path, concurrency=1, beat=False, queues=(settings.OBS_SWEEP_QUEUE,))
    try:
        yield delivery, sweeper
    finally:
        delivery.stop()
        sweeper.stop()


def test_the_sweep_keeps_running_behind_a_backlog_of_slow_deliveries(fake_obs, shop, delivery_and_sweeper):
    fake_obs.default = Reply(delay=SLOW_CALL_SECONDS)
    ros = [make_obs_repair_order(shop) for _ in range(BACKLOG)]
    for ro in ros:
        repair_order_move(repair_order_id=ro.id, stage_id=7, source="board")
    time.sleep(WATCH_SECONDS)

    # The backlog is still there...
    assert Notification.objects.filter(state=Notification.State.PENDING).count() >= 2
    # ...and the sweep (every 1 s) ran all along, not once or twice.
    runs = sum(len(SWEEP_RAN.findall(worker.log())) for worker in delivery_and_sweeper)
    assert runs >= WATCH_SECONDS * 3 // 4, runs
