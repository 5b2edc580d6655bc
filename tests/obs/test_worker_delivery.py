"""OBS delivery end to end: moves committed by this process, a real Celery
worker (prefork, concurrency 2, embedded beat running the sweep) on the real
broker, and a real local HTTP server standing in for OBS."""

import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from django.conf import settings
from django.utils import timezone

from integrations.models import BeaconTag, BeaconZone, Notification, ObsSettings, ObsStatusMapping
from repairs.selectors import board_repair_orders
from repairs.services import repair_order_move
from tests import factories
from tests.obs.support import BASE_DIR, Reply, database_url_of_test_db, make_obs_repair_order, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

State = Notification.State


@pytest.fixture(autouse=True)
def _show_worker_log_on_failure(request, obs_worker):
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(obs_worker.log()[-6000:])


def move(ro, stage_id, user=None):
    return repair_order_move(repair_order_id=ro.id, stage_id=stage_id, source="board", user=user)


def card_problem(ro):
    """The OBS problem the RO's board card shows (integrations/obs/board.py), or None."""
    return board_repair_orders(shop_id=ro.shop_id).get(pk=ro.pk).obs_problem


def settled(ro):
    """The RO's notifications once none is pending any more."""
    rows = list(Notification.objects.filter(repair_order=ro).order_by("id"))
    return rows if rows and all(n.state != State.PENDING for n in rows) else None


def wait_settled(ro, timeout=20):
    return wait_until(lambda: settled(ro), timeout=timeout, message=f"the notifications of {ro} to settle")


def attempt_statuses(notification):
    return [a.http_status for a in notification.attempts.order_by("attempted_at", "id")]


def test_a_move_sends_exactly_one_update_with_obs_body_and_headers(fake_obs, shop, manager):
    ro = make_obs_repair_order(shop)
    move(ro, 7, manager)
    [notification] = wait_settled(ro)
    # Longer than the sweep's interval and grace: a duplicate would show by now.
    time.sleep(2)
    [received] = fake_obs.received_for(ro.obs_event_id)
    assert received.body == [{"obs_event_id": ro.obs_event_id, "status": "7"}]
    assert received.headers["content-type"] == "application/json; charset=utf-8"
    assert received.headers["apikey"] == "test-obs-key"
    assert received.path == "/api/ver_1/updateevent/"
    assert notification.state == State.DELIVERED and notification.delivered_at is not None
    [attempt] = notification.attempts.all()
    assert (attempt.http_status, attempt.message) == (200, '{"success": true}')  # what OBS said
    assert attempt.duration_ms < 1000


def test_shop_overrides_url_key_and_status_text(fake_obs, shop):
    ObsSettings.objects.create(
        shop=shop, update_url=fake_obs.url.replace("/api/ver_1/", "/shop-33/"), api_key="shop-33-key"
    )
    ObsStatusMapping.objects.create(shop=shop, stage_id=9, obs_status="In Paint")
    ro = make_obs_repair_order(shop)
    move(ro, 9)
    wait_settled(ro)
    [received] = fake_obs.received_for(ro.obs_event_id)
    assert received.path == "/shop-33/updateevent/"
    assert received.headers["apikey"] == "shop-33-key"
    assert received.body[0]["status"] == "In Paint"


def test_obs_down_for_a_while_then_back_is_delivered(fake_obs, shop):
    fake_obs.script(
        Reply(503, {"message": "Service Unavailable"}),
        Reply(drop=True),  # connection error
        Reply(500, {"message": "boom"}),
        Reply(delay=1.5),  # longer than the worker's 1 s timeout
    )
    ro = make_obs_repair_order(shop)
    move(ro, 7)
    [notification] = wait_settled(ro, timeout=30)
    assert notification.state == State.DELIVERED
    assert attempt_statuses(notification) == [503, None, 500, None, 200]
    messages = [a.message for a in notification.attempts.order_by("attempted_at", "id")]
    assert messages[0] == "HTTP 503: Service Unavailable"
    assert messages[1].startswith("Connection to OBS failed")
    assert messages[3] == "No answer within 1 s."


@pytest.mark.parametrize("status", [408, 429, 502])
def test_retryable_status_is_retried_until_delivered(fake_obs, shop, status):
    fake_obs.script(Reply(status, {"message": "later"}))
    ro = make_obs_repair_order(shop)
    move(ro, 7)
    [notification] = wait_settled(ro)
    assert notification.state == State.DELIVERED
    assert attempt_statuses(notification) == [status, 200]


def test_retry_after_of_429_is_honoured(fake_obs, shop):
    fake_obs.script(Reply(429, {"message": "slow down"}, headers={"Retry-After": "1"}))
    ro = make_obs_repair_order(shop)
    move(ro, 7)
    [notification] = wait_settled(ro)
    first, second = notification.attempts.order_by("attempted_at", "id")
    # The test backoff would retry after 0.2 s; OBS asked for 1 s.
    assert (second.attempted_at - first.attempted_at).total_seconds() >= 1.0


@pytest.mark.parametrize(
    "reply, shown",
    [
        (Reply(400, {"message": "Unknown status"}), "HTTP 400: Unknown status"),
        (Reply(200, {"error": "Invalid Api Key"}), "Invalid Api Key"),
        (Reply(200, {"Error": "Event not found"}), "Event not found"),
        (Reply(404, {"message": "Not Found"}), "HTTP 404: Not Found"),
    ],
    ids=["400", "200-error", "200-Error", "404"],
)
def test_rejection_fails_at_once_is_shown_and_resend_delivers(client, fake_obs, shop, manager, reply, shown):
    fake_obs.script(reply)
    ro = make_obs_repair_order(shop)
    move(ro, 7)
    [notification] = wait_settled(ro)
    assert notification.state == State.FAILED
    assert notification.last_error == shown
    assert attempt_statuses(notification) == [reply.status]
    time.sleep(1.5)  # no retry, not even by the sweep
    assert len(fake_obs.received_for(ro.obs_event_id)) == 1
    assert card_problem(ro) == f"OBS update failed: {shown}"

    client.force_login(manager)
    response = client.post(f"/shops/{shop.id}/ros/{ro.id}/obs/{notification.id}/resend/")
    assert response.status_code == 302
    wait_until(
        lambda: Notification.objects.get(pk=notification.id).state == State.DELIVERED, message="re-send"
    )
    assert len(fake_obs.received_for(ro.obs_event_id)) == 2
    assert card_problem(ro) is None
    notification.refresh_from_db()
    assert attempt_statuses(notification) == [reply.status, 200]


def test_quick_moves_while_obs_is_slow_end_on_the_last_stage(fake_obs, shop):
    """Three quick moves of each of three ROs, OBS taking 0.4 s per update,
    two deliveries in parallel: each RO's updates reach OBS in move order and
    OBS ends on each RO's last stage."""
    fake_obs.default = Reply(delay=0.4)
    ros = [make_obs_repair_order(shop) for _ in range(3)]
    for stage_id in (3, 5, 9):
        for ro in ros:
            move(ro, stage_id)
    for ro in ros:
        notifications = wait_settled(ro, timeout=30)
        sent = [r.body[0]["status"] for r in fake_obs.received_for(ro.obs_event_id)]
        assert sent[-1] == "9"
        # In move order, each at most once (older ones may be skipped as obsolete).
        assert sent == [s for s in ("3", "5", "9") if s in sent]
        assert fake_obs.completed_for(ro.obs_event_id)[-1].body[0]["status"] == "9"
        assert notifications[-1].state == State.DELIVERED
        assert {n.state for n in notifications[:-1]} <= {State.DELIVERED, State.OBSOLETE}
    # The worker really did deliver in parallel.
    assert fake_obs.max_in_flight >= 2


def test_steady_moves_of_one_repair_order_never_leave_obs_behind(fake_obs, shop):
    """A move every 0.15 s while each update takes OBS 0.3 s: deliveries of
    one RO overlap with its next moves, and both worker processes pick up
    its tasks; OBS still sees the stages in move order and ends on the last."""
    fake_obs.default = Reply(delay=0.3)
    ro = make_obs_repair_order(shop)
    stages = [2, 3, 4, 5, 6, 7, 8, 9]
    for stage_id in stages:
        move(ro, stage_id)
        time.sleep(0.15)
    notifications = wait_settled(ro, timeout=30)
    sent = [int(r.body[0]["status"]) for r in fake_obs.received_for(ro.obs_event_id)]
    assert sent == sorted(set(sent)) and sent[-1] == 9
    assert fake_obs.completed_for(ro.obs_event_id)[-1].body[0]["status"] == "9"
    assert notifications[-1].state == State.DELIVERED
    # Some were skipped as obsolete rather than sent late.
    assert len(sent) < len(stages)


def test_no_obs_event_id_or_obs_off_sends_nothing(fake_obs, shop, other_shop):
    ObsSettings.objects.create(shop=other_shop, enabled=False)
    without_id = factories.make_repair_order(shop=shop, obs_event_id=None)
    obs_off = make_obs_repair_order(other_shop)
    control = make_obs_repair_order(shop)
    for ro in (without_id, obs_off, control):
        move(ro, 7)
    wait_settled(control)
    time.sleep(1.5)
    assert not Notification.objects.filter(repair_order__in=[without_id, obs_off]).exists()
    assert [r.body[0]["obs_event_id"] for r in fake_obs.received] == [control.obs_event_id]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_web(env: dict, port: int, log_path) -> subprocess.Popen:
    log = open(log_path, "wb")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"],
        cwd=BASE_DIR, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            assert process.poll() is None, log_path.read_text()
            return False

    wait_until(up, timeout=20, message="the web server")
    return process


def test_broker_down_at_commit_loses_nothing_and_does_not_hang_the_request(fake_obs, shop, tmp_path):
    """A web process whose broker is unreachable: the beacon move answers at
    once, the notification is committed but not queued, and the sweep of the
    worker (on the working broker) delivers it."""
    api_key = factories.make_api_key(shop)
    BeaconZone.objects.create(shop=shop, zone_id="booth-1", stage_id=9)
    ro = make_obs_repair_order(shop)
    BeaconTag.objects.create(shop=shop, beacon_id="TAG-0042", repair_order=ro)
    port = _free_port()
    web_log = tmp_path / "web.log"
    web = _start_web(
        {
            "DATABASE_URL": database_url_of_test_db(),
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{_free_port()}/0",
        },
        port,
        web_log,
    )
    try:
        started = time.monotonic()
        response = requests.post(
            f"http://127.0.0.1:{port}/api/v1/beacon-events",
            json=[
                {
                    "shop_id": shop.id,
                    "beacon_id": "TAG-0042",
                    "zone_id": "booth-1",
                    "seen_at": timezone.now().isoformat(),
                }
            ],
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=15,
        )
        elapsed = time.monotonic() - started
    finally:
        web.terminate()
        web.wait(timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["outcome"] == "moved"
    # Bounded by CELERY_BROKER_CONNECTION_TIMEOUT (2 s), not hung.
    assert elapsed < settings.CELERY_BROKER_CONNECTION_TIMEOUT + 2.5
    assert "Could not queue OBS notification" in web_log.read_text()

    [notification] = wait_settled(ro, timeout=20)
    assert notification.state == State.DELIVERED
    [received] = fake_obs.received_for(ro.obs_event_id)
    assert received.body[0]["status"] == "9"
