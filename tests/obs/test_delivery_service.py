"""The delivery service called in-process against a real local HTTP server:
ordering, obsolescence, the per-RO lock, giving up. (The worker tests run
the same service through Celery.)"""

import time
from itertools import pairwise

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from integrations.models import DeliveryAttempt, Notification, ObsSettings
from integrations.obs.locks import _key
from integrations.obs.services import NotResendable, notification_deliver, notification_resend
from repairs.services import repair_order_move
from tests.obs.support import Reply, make_obs_repair_order

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

State = Notification.State


@pytest.fixture
def fast(obs_settings, fake_obs):
    obs_settings.OBS_UPDATE_URL = fake_obs.url
    return obs_settings


def move(ro, stage_id):
    return repair_order_move(repair_order_id=ro.id, stage_id=stage_id, source="board")


def states(ro):
    return list(Notification.objects.filter(repair_order=ro).order_by("id").values_list("stage_id", "state"))


def test_only_the_newest_pending_notification_is_sent(fast, fake_obs, shop):
    ro = make_obs_repair_order(shop)
    for stage_id in (3, 5, 9):
        move(ro, stage_id)
    first = Notification.objects.filter(repair_order=ro).order_by("id").first()
    report = notification_deliver(notification_id=first.id)
    assert report.outcome == "delivered"
    assert [r.body for r in fake_obs.received] == [[{"obs_event_id": ro.obs_event_id, "status": "9"}]]
    assert states(ro) == [(3, State.OBSOLETE), (5, State.OBSOLETE), (9, State.DELIVERED)]


def test_delivery_makes_an_older_failed_notification_obsolete(fast, fake_obs, shop):
    ro = make_obs_repair_order(shop)
    move(ro, 3)
    fake_obs.script(Reply(400, {"message": "Unknown status"}))
    notification_deliver(notification_id=Notification.objects.get(repair_order=ro).id)
    assert states(ro) == [(3, State.FAILED)]
    move(ro, 5)
    newest = Notification.objects.filter(repair_order=ro).order_by("-id").first()
    assert notification_deliver(notification_id=newest.id).outcome == "delivered"
    assert states(ro) == [(3, State.OBSOLETE), (5, State.DELIVERED)]


def test_only_the_newest_notification_can_be_resent(fast, fake_obs, shop):
    ro = make_obs_repair_order(shop)
    move(ro, 3)
    fake_obs.script(Reply(400, {"message": "Unknown status"}))
    old = Notification.objects.get(repair_order=ro)
    notification_deliver(notification_id=old.id)
    fake_obs.script(Reply(400, {"message": "Unknown status"}))
    move(ro, 5)
    newest = Notification.objects.filter(repair_order=ro).order_by("-id").first()
    notification_deliver(notification_id=newest.id)
    assert states(ro) == [(3, State.FAILED), (5, State.FAILED)]
    with pytest.raises(NotResendable):
        notification_resend(notification_id=old.id)
    notification_resend(notification_id=newest.id)
    newest.refresh_from_db()
    assert (newest.state, newest.attempt_count, newest.last_error) == (State.PENDING, 0, "")
    assert notification_deliver(notification_id=newest.id).outcome == "delivered"
    assert fake_obs.received[-1].body[0]["status"] == "5"


def test_delivered_notification_cannot_be_resent(fast, fake_obs, shop):
    ro = make_obs_repair_order(shop)
    move(ro, 3)
    notification = Notification.objects.get(repair_order=ro)
    notification_deliver(notification_id=notification.id)
    with pytest.raises(NotResendable):
        notification_resend(notification_id=notification.id)


def test_gives_up_after_the_retry_window_and_keeps_every_attempt(fast, fake_obs, shop):
    fast.OBS_RETRY_WINDOW_SECONDS = 0.5  # delays 0.2 s, 0.4 s: three attempts
    fake_obs.default = Reply(503, {"message": "Down for maintenance"})
    ro = make_obs_repair_order(shop)
    move(ro, 7)
    notification = Notification.objects.get(repair_order=ro)
    for _ in range(3):
        notification.refresh_from_db()
        if notification.next_attempt_at:
            time.sleep(max(0.0, (notification.next_attempt_at - timezone.now()).total_seconds()) + 0.01)
        report = notification_deliver(notification_id=notification.id)
    notification.refresh_from_db()
    assert report.outcome == "failed" and report.retry_at is None
    assert notification.state == State.FAILED
    assert notification.last_error == "Gave up after 3 attempts. Last: HTTP 503: Down for maintenance"
    attempts = list(DeliveryAttempt.objects.filter(notification=notification).order_by("attempted_at"))
    assert [a.http_status for a in attempts] == [503, 503, 503]
    assert all(a.message == "HTTP 503: Down for maintenance" for a in attempts)
    # The backoff was respected: 0.2 s, then 0.4 s (plus jitter) between attempts.
    gaps = [(b.attempted_at - a.attempted_at).total_seconds() for a, b in pairwise(attempts)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4


def test_a_retry_is_not_sent_before_it_is_due(fast, fake_obs, shop):
    fast.OBS_RETRY_BASE_SECONDS = 30
    fake_obs.script(Reply(503))
    ro = make_obs_repair_order(shop)
    move(ro, 7)
    notification = Notification.objects.get(repair_order=ro)
    first = notification_deliver(notification_id=notification.id)
    assert first.outcome == "retrying" and first.retry_at > timezone.now()
    assert notification_deliver(notification_id=notification.id).outcome == "nothing"
    assert len(fake_obs.received) == 1


def test_shop_switching_obs_off_fails_pending_notification(fast, fake_obs, shop):
    ro = make_obs_repair_order(shop)
    move(ro, 7)
    ObsSettings.objects.create(shop=shop, enabled=False)
    notification = Notification.objects.get(repair_order=ro)
    assert notification_deliver(notification_id=notification.id).outcome == "nothing"
    notification.refresh_from_db()
    assert (notification.state, notification.last_error) == (
        State.FAILED,
        "OBS is switched off for this shop.",
    )
    assert fake_obs.received == []


def test_repair_order_held_by_another_deliverer_is_left_to_it(fast, fake_obs, shop):
    ro = make_obs_repair_order(shop)
    move(ro, 7)
    notification = Notification.objects.get(repair_order=ro)
    params = connection.get_connection_params()
    with psycopg.connect(
        **{k: v for k, v in params.items() if k in {"dbname", "user", "password", "host", "port"}},
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [_key(ro.id)])
        assert notification_deliver(notification_id=notification.id).outcome == "busy"
        assert fake_obs.received == []
        other.execute("SELECT pg_advisory_unlock(%s)", [_key(ro.id)])
    assert notification_deliver(notification_id=notification.id).outcome == "delivered"
    assert len(fake_obs.received) == 1


def test_delivery_of_a_vanished_notification_does_nothing(fast, fake_obs):
    assert notification_deliver(notification_id=987654321).outcome == "nothing"
    assert fake_obs.received == []
