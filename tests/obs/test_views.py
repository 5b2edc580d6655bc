"""Re-send (board and admin), the board's problem selector, the RO detail
partial, and the DEBUG-only demo OBS receiver."""

import json

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from integrations.models import DeliveryAttempt, Notification, ObsReceivedUpdate
from integrations.obs.selectors import obs_deliveries_for
from repairs.models import Membership
from repairs.services import repair_order_move
from tests.obs.support import make_obs_repair_order

State = Notification.State


def failed_notification(ro, *, stage_id=7, message="HTTP 400: Unknown status"):
    repair_order_move(repair_order_id=ro.id, stage_id=stage_id, source="board")
    notification = Notification.objects.filter(repair_order=ro).order_by("-id").first()
    Notification.objects.filter(pk=notification.pk).update(
        state=State.FAILED, last_error=message, attempt_count=1
    )
    DeliveryAttempt.objects.create(
        notification=notification,
        attempted_at=timezone.now(),
        http_status=400,
        message=message,
        duration_ms=12,
    )
    return notification


def resend_url(shop_id, ro_id, notification_id):
    return f"/shops/{shop_id}/ros/{ro_id}/obs/{notification_id}/resend/"


def test_manager_resends_failed_notification(client, shop, manager):
    ro = make_obs_repair_order(shop)
    notification = failed_notification(ro)
    client.force_login(manager)
    response = client.post(resend_url(shop.id, ro.id, notification.id))
    assert response.status_code == 302 and response.url == f"/shops/{shop.id}/ros/{ro.id}/"
    notification.refresh_from_db()
    assert (notification.state, notification.attempt_count, notification.last_error) == (State.PENDING, 0, "")


def test_resend_never_redirects_off_the_ro_page(client, shop, manager):
    ro = make_obs_repair_order(shop)
    notification = failed_notification(ro)
    client.force_login(manager)
    response = client.post(resend_url(shop.id, ro.id, notification.id), {"next": "https://evil.example/"})
    assert response.url == f"/shops/{shop.id}/ros/{ro.id}/"


def test_htmx_resend_answers_the_deliveries_partial(client, shop, manager):
    ro = make_obs_repair_order(shop)
    notification = failed_notification(ro)
    client.force_login(manager)
    response = client.post(resend_url(shop.id, ro.id, notification.id), headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="obs-deliveries-{ro.id}"' in html
    assert "Pending" in html


@pytest.mark.parametrize(
    "who, status",
    [("viewer", 403), ("estimator", 403), ("outsider", 404)],
)
def test_only_a_manager_of_the_shop_can_resend(client, shop, request, who, status):
    user = request.getfixturevalue(who)
    ro = make_obs_repair_order(shop)
    notification = failed_notification(ro)
    client.force_login(user)
    response = client.post(resend_url(shop.id, ro.id, notification.id))
    assert response.status_code == status
    notification.refresh_from_db()
    assert notification.state == State.FAILED


def test_resend_url_mixing_shops_is_404(client, shop, other_shop, manager, outsider):
    """A manager of both shops still cannot reach an RO through the other shop's URL."""
    Membership.objects.create(user=manager, shop=other_shop, role=Membership.Role.MANAGER)
    theirs = make_obs_repair_order(other_shop)
    notification = failed_notification(theirs)
    mine = make_obs_repair_order(shop)
    client.force_login(manager)
    assert client.post(resend_url(shop.id, theirs.id, notification.id)).status_code == 404
    assert client.post(resend_url(shop.id, mine.id, notification.id)).status_code == 404
    notification.refresh_from_db()
    assert notification.state == State.FAILED


def test_resend_needs_login_post_and_csrf(shop, manager):
    ro = make_obs_repair_order(shop)
    notification = failed_notification(ro)
    url = resend_url(shop.id, ro.id, notification.id)
    anonymous = Client()
    assert anonymous.post(url).status_code == 302  # to the login page
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(manager)
    assert csrf_client.get(url).status_code == 405
    assert csrf_client.post(url).status_code == 403
    notification.refresh_from_db()
    assert notification.state == State.FAILED


def test_resend_of_an_older_notification_is_refused_with_409(client, shop, manager):
    ro = make_obs_repair_order(shop)
    older = failed_notification(ro, stage_id=7)
    failed_notification(ro, stage_id=9)
    client.force_login(manager)
    response = client.post(resend_url(shop.id, ro.id, older.id))
    assert response.status_code == 409
    assert "older stage" in response.content.decode()
    older.refresh_from_db()
    assert older.state == State.FAILED


def test_admin_resend_action(admin_client, shop):
    ro = make_obs_repair_order(shop)
    older = failed_notification(ro, stage_id=7)
    newest = failed_notification(ro, stage_id=9)
    response = admin_client.post(
        reverse("admin:integrations_notification_changelist"),
        {"action": "resend", "_selected_action": [older.id, newest.id]},
        follow=True,
    )
    assert response.status_code == 200
    older.refresh_from_db()
    newest.refresh_from_db()
    assert (older.state, newest.state) == (State.FAILED, State.PENDING)
    assert "Not re-sent" in response.content.decode()


def test_admin_lists_the_outbox_by_state(admin_client, shop):
    ro = make_obs_repair_order(shop)
    failed_notification(ro)
    response = admin_client.get(
        reverse("admin:integrations_notification_changelist"), {"state__exact": "failed"}
    )
    assert response.status_code == 200
    assert ro.obs_event_id in response.content.decode()


def test_deliveries_partial_shows_attempts_and_resend_for_managers_only(rf, shop, manager):
    from django.template.loader import render_to_string

    ro = make_obs_repair_order(shop)
    notification = failed_notification(ro, message="Invalid <b>Api</b> Key")
    request = rf.get("/")
    context = {
        "shop_id": shop.id,
        "repair_order": ro,
        "obs_notifications": obs_deliveries_for(repair_order_id=ro.id),
    }
    as_manager = render_to_string(
        "integrations/obs_deliveries.html", {**context, "can_resend_obs": True}, request
    )
    as_viewer = render_to_string(
        "integrations/obs_deliveries.html", {**context, "can_resend_obs": False}, request
    )
    assert resend_url(shop.id, ro.id, notification.id) in as_manager
    assert "csrfmiddlewaretoken" in as_manager
    assert "Re-send" not in as_viewer
    # OBS's message is shown, escaped.
    assert "Invalid &lt;b&gt;Api&lt;/b&gt; Key" in as_viewer and "<b>Api</b>" not in as_viewer
    assert "12 ms" in as_viewer


@pytest.mark.urls("tests.obs.urls_debug")
def test_demo_receiver_stores_updates_and_lists_them(client, settings, shop):
    settings.DEBUG = True
    settings.OBS_API_KEY = ""
    ro = make_obs_repair_order(shop)
    body = [{"obs_event_id": ro.obs_event_id, "status": "7"}]
    response = client.post(
        "/demo/obs/updateevent/", body, content_type="application/json", headers={"apikey": "demo-obs-key"}
    )
    assert response.status_code == 200 and "error" not in response.json()
    assert ObsReceivedUpdate.objects.get().body == body
    page = client.get("/demo/obs/").content.decode()
    assert ro.obs_event_id in page and ro.repair_number in page and "BODY" in page


@pytest.mark.urls("tests.obs.urls_debug")
@pytest.mark.parametrize(
    "body, apikey, status, answer",
    [
        ([{"obs_event_id": "E", "status": "7"}], "", 200, {"Error": "Invalid Api Key"}),
        ([{"obs_event_id": "E", "status": 7}], "k", 400, None),
        ({"obs_event_id": "E", "status": "7"}, "k", 400, None),
        ("not json", "k", 400, None),
    ],
)
def test_demo_receiver_rejects_like_obs(db, client, settings, body, apikey, status, answer):
    settings.DEBUG = True
    data = body if isinstance(body, str) else json.dumps(body)
    response = client.post(
        "/demo/obs/updateevent/", data, content_type="application/json", headers={"apikey": apikey}
    )
    assert response.status_code == status
    if answer:
        assert response.json() == answer
    assert not ObsReceivedUpdate.objects.exists()


@pytest.mark.urls("tests.obs.urls_debug")
def test_demo_receiver_answers_as_switched_on_its_page(db, client, settings):
    settings.DEBUG = True
    assert client.post("/demo/obs/", {"mode": "unavailable"}).status_code == 302
    response = client.post(
        "/demo/obs/updateevent/",
        [{"obs_event_id": "E", "status": "7"}],
        content_type="application/json",
        headers={"apikey": "k"},
    )
    assert response.status_code == 503
    client.post("/demo/obs/", {"mode": "ok"})


@pytest.mark.urls("tests.obs.urls_debug")
def test_demo_receiver_refuses_when_debug_is_off(client, settings):
    settings.DEBUG = False
    response = client.post(
        "/demo/obs/updateevent/", [{"obs_event_id": "E", "status": "7"}], content_type="application/json"
    )
    assert response.status_code == 404


def test_demo_receiver_is_not_routed_without_debug(client, settings):
    # shopboard/urls.py decides when it is imported, which a test module may
    # do at collection time with the development DEBUG: load it again as a
    # production process would.
    import importlib

    from django.urls import clear_url_caches

    import shopboard.urls

    settings.DEBUG = False
    importlib.reload(shopboard.urls)
    clear_url_caches()
    with pytest.raises(NoReverseMatch):
        reverse("demo_obs_receive")
    assert client.post("/demo/obs/updateevent/", "[]", content_type="application/json").status_code == 404
