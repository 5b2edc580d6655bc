"""What the board shows of OBS: the card's problem, the RO detail's deliveries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.models import Notification
from tests.factories import make_repair_order

HTMX_POLL = {"HX-Request": "true", "HX-Target": "board"}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def notify(ro, state, *, last_error="", age=timedelta(0)):
    notification = Notification.objects.create(
        repair_order=ro,
        obs_event_id=ro.obs_event_id or "EVT",
        stage_id=ro.stage_id,
        state=state,
        last_error=last_error,
    )
    Notification.objects.filter(pk=notification.pk).update(created_at=timezone.now() - age)
    return notification


@pytest.fixture
def obs_ro(shop):
    return make_repair_order(
        shop=shop, repair_number="606471", obs_event_id="783A61C0-DDAA-4B11-A758475C419B5927"
    )


def test_a_failed_delivery_shows_obs_message_on_the_card(manager, obs_ro):
    notify(obs_ro, Notification.State.FAILED, last_error="Invalid Api Key")
    html = signed_in(manager).get(f"/shops/{obs_ro.shop_id}/board/").content.decode()
    assert "OBS update failed: Invalid Api Key" in html


@pytest.mark.parametrize(
    ("state", "age", "shown"),
    [
        (Notification.State.PENDING, timedelta(hours=1), "OBS update pending: 503 Service Unavailable"),
        (Notification.State.PENDING, timedelta(0), None),
        (Notification.State.DELIVERED, timedelta(hours=1), None),
    ],
)
def test_only_long_pending_or_failed_deliveries_are_shown(manager, obs_ro, state, age, shown):
    notify(obs_ro, state, last_error="503 Service Unavailable", age=age)
    html = signed_in(manager).get(f"/shops/{obs_ro.shop_id}/board/").content.decode()
    if shown:
        assert shown in html
    else:
        assert "OBS update" not in html


def test_a_newer_delivered_notification_clears_the_problem(manager, obs_ro):
    notify(obs_ro, Notification.State.FAILED, last_error="Invalid Api Key")
    notify(obs_ro, Notification.State.DELIVERED)
    html = signed_in(manager).get(f"/shops/{obs_ro.shop_id}/board/").content.decode()
    assert "Invalid Api Key" not in html


def test_problems_cost_no_extra_query(manager, shop):
    client = signed_in(manager)
    for i in range(30):
        ro = make_repair_order(shop=shop, obs_event_id=f"E{i}")
        notify(ro, Notification.State.FAILED, last_error="boom")
    client.get(f"/shops/{shop.id}/board/")  # warm the session
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/shops/{shop.id}/board/")
    assert response.content.decode().count('title="OBS update failed: boom"') == 30
    assert len(queries) <= 8


def test_a_delivery_failing_wakes_an_idle_board(manager, obs_ro):
    client = signed_in(manager)
    first = client.get(f"/shops/{obs_ro.shop_id}/board/", headers=HTMX_POLL)
    etag = first["ETag"]
    assert (
        client.get(
            f"/shops/{obs_ro.shop_id}/board/", headers={**HTMX_POLL, "If-None-Match": etag}
        ).status_code
        == 304
    )
    notify(obs_ro, Notification.State.FAILED, last_error="Invalid Api Key")
    again = client.get(f"/shops/{obs_ro.shop_id}/board/", headers={**HTMX_POLL, "If-None-Match": etag})
    assert again.status_code == 200
    assert "Invalid Api Key" in again.content.decode()


def test_detail_lists_deliveries_with_resend_for_managers_only(manager, viewer, obs_ro):
    notify(obs_ro, Notification.State.FAILED, last_error="Invalid Api Key")
    url = f"/shops/{obs_ro.shop_id}/ros/{obs_ro.id}/"
    manager_html = signed_in(manager).get(url).content.decode()
    viewer_html = signed_in(viewer).get(url).content.decode()
    for html in (manager_html, viewer_html):
        assert "OBS deliveries" in html and "Invalid Api Key" in html
        assert "Beacon tag" in html
    assert "Re-send" in manager_html and "Re-send" not in viewer_html
    assert 'name="beacon_id"' in manager_html and 'name="beacon_id"' not in viewer_html


def test_obs_messages_and_beacon_ids_are_shown_escaped(manager, obs_ro):
    from integrations.models import BeaconTag

    evil = '<script>alert("obs")</script>'
    notify(obs_ro, Notification.State.FAILED, last_error=evil)
    BeaconTag.objects.create(shop_id=obs_ro.shop_id, beacon_id=evil, repair_order=obs_ro)
    client = signed_in(manager)
    for url in (f"/shops/{obs_ro.shop_id}/board/", f"/shops/{obs_ro.shop_id}/ros/{obs_ro.id}/"):
        html = client.get(url).content.decode()
        assert evil not in html
        assert "&lt;script&gt;alert(&quot;obs&quot;)&lt;/script&gt;" in html
