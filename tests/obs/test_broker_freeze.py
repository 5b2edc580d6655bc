"""A hung broker (issue 14, defect 2): Redis up but not answering (SIGSTOP)
must not turn a saved board move into an error or a long wait. A Redis of
the test's own (never the shared one), a real web process and a real worker
on it, and the fake OBS."""

import re
import time

import pytest
import requests
from django.test import Client

from bench.harness import PrivateRedis
from integrations.models import Notification
from tests.obs.support import FAST_OBS_ENV, Worker, database_url_of_test_db, make_obs_repair_order, wait_until
from tests.obs.test_worker_delivery import _free_port, _start_web

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

HTMX = {"HX-Request": "true"}
# What the issue asks of a move while the broker hangs.
MOVE_ANSWER_SECONDS = 3.0


@pytest.fixture
def private_redis():
    with PrivateRedis() as redis_server:
        yield redis_server


@pytest.fixture
def stack(private_redis, fake_obs_server, tmp_path):
    """A web process and a worker (with beat: the sweep) on the private Redis."""
    env = {
        **FAST_OBS_ENV,
        "DATABASE_URL": database_url_of_test_db(),
        "CELERY_BROKER_URL": private_redis.url(0),
        "REDIS_URL": private_redis.url(1),
        "OBS_UPDATE_URL": fake_obs_server.url,
    }
    worker = Worker(env=env, log_dir=tmp_path)
    port = _free_port()
    web = _start_web(env, port, tmp_path / "web.log")
    try:
        yield f"http://127.0.0.1:{port}", worker
    finally:
        private_redis.thaw()
        web.terminate()
        web.wait(timeout=10)
        worker.stop()


def board_session(base_url: str, user, shop) -> tuple[requests.Session, str]:
    """A signed-in browser session and its CSRF token, as the board page gives it."""
    client = Client()
    client.force_login(user)
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    page = session.get(f"{base_url}/shops/{shop.id}/board/", timeout=15)
    assert page.status_code == 200
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page.text).group(1)
    return session, token


def test_a_move_while_redis_hangs_answers_success_at_once_and_is_delivered_later(
    stack, private_redis, fake_obs, shop, manager
):
    base_url, worker = stack
    session, token = board_session(base_url, manager, shop)
    ro = make_obs_repair_order(shop)

    def move(stage_id: int, version: int) -> tuple[requests.Response, float]:
        started = time.monotonic()
        response = session.post(
            f"{base_url}/shops/{shop.id}/ros/{ro.id}/move/",
            {"stage_id": stage_id, "version": version},
            headers={**HTMX, "X-CSRFToken": token},
            timeout=60,
        )
        return response, time.monotonic() - started

    # Healthy first: the web process now holds a pooled broker connection,
    # the one a hung Redis leaves waiting.
    response, _ = move(5, 1)
    assert response.status_code == 200
    wait_until(lambda: fake_obs.completed_for(ro.obs_event_id), timeout=20, message="the update to 5")

    private_redis.freeze()
    response, elapsed = move(9, 2)
    assert response.status_code == 200, response.text
    assert "moved to" in response.text
    assert elapsed < MOVE_ANSWER_SECONDS, elapsed
    ro.refresh_from_db()
    assert ro.stage_id == 9
    time.sleep(2)
    assert [r.body[0]["status"] for r in fake_obs.completed_for(ro.obs_event_id)] == ["5"]

    private_redis.thaw()
    newest = wait_until(
        lambda: Notification.objects.filter(
            repair_order=ro, stage_id=9, state=Notification.State.DELIVERED
        ).first(),
        timeout=60,
        message="the update to 9 after Redis came back",
    )
    assert newest.delivered_at is not None
    assert [r.body[0]["status"] for r in fake_obs.completed_for(ro.obs_event_id)] == ["5", "9"]
