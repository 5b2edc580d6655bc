"""OBS order survives the loss of a worker's database connection (issue 14,
defect 1): a real worker whose connections are terminated while its HTTP call
to OBS is running, a real local OBS that is slow for that one request."""

import time

import pytest
from django.conf import settings
from django.db import connection

from integrations.models import Notification
from repairs.services import repair_order_move
from tests.obs.support import (
    FAST_OBS_ENV,
    Reply,
    Worker,
    database_url_of_test_db,
    make_obs_repair_order,
    wait_until,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

State = Notification.State
# OBS takes this long for the first update; the worker waits longer for it.
SLOW_CALL_SECONDS = 3.0


@pytest.fixture(scope="module")
def patient_worker(django_db_setup, fake_obs_server, tmp_path_factory):
    """A worker whose OBS timeout outlasts the slow call, so the call lands."""
    from shopboard.celery import app

    app.control.purge()
    env = {
        **FAST_OBS_ENV,
        "OBS_TIMEOUT_SECONDS": str(SLOW_CALL_SECONDS + 2),
        "DATABASE_URL": database_url_of_test_db(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "OBS_UPDATE_URL": fake_obs_server.url,
    }
    worker = Worker(env=env, log_dir=tmp_path_factory.mktemp("celery"))
    yield worker
    worker.stop()


def terminate_other_backends() -> int:
    """What a failover or a PgBouncer restart does to every app connection but ours."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def completed_statuses(fake_obs, ro) -> list[str]:
    return [r.body[0]["status"] for r in fake_obs.completed_for(ro.obs_event_id)]


def test_obs_ends_on_the_current_stage_when_connections_die_mid_delivery(fake_obs, shop, patient_worker):
    """The issue's scenario, five times: OBS is slow for the update to 5, the
    worker's connections are terminated during that call, the RO moves to 8.
    Whatever order the calls land in, OBS ends on 8 and the outbox says so."""
    for run in range(5):
        fake_obs.reset()
        fake_obs.script(Reply(delay=SLOW_CALL_SECONDS))
        ro = make_obs_repair_order(shop)
        repair_order_move(repair_order_id=ro.id, stage_id=5, source="board")
        wait_until(
            lambda ro=ro: fake_obs.received_for(ro.obs_event_id), message="the update to 5 to reach OBS"
        )
        time.sleep(0.5)
        assert terminate_other_backends() >= 1
        repair_order_move(repair_order_id=ro.id, stage_id=8, source="board")

        def settled(ro=ro):
            rows = list(Notification.objects.filter(repair_order=ro).order_by("id"))
            done = rows and all(n.state != State.PENDING for n in rows)
            # The slow call to 5 has landed too (OBS answered it).
            return done and "5" in completed_statuses(fake_obs, ro) and fake_obs.in_flight == 0

        wait_until(settled, timeout=40, message=f"run {run}: every call to land and the outbox to settle")
        time.sleep(1.5)  # longer than the sweep's interval and grace: a late call would show
        statuses = [int(status) for status in completed_statuses(fake_obs, ro)]
        assert statuses[-1] == 8, (run, statuses)
        # Not even for a moment an older stage after a newer one: the lease held.
        assert statuses == sorted(statuses), (run, statuses)
        newest = Notification.objects.filter(repair_order=ro).order_by("-id").first()
        assert (newest.stage_id, newest.state) == (8, State.DELIVERED)
        ro.refresh_from_db()
        assert ro.stage_id == 8
