"""The webhooks section of the shop settings page (managers), the top bar
notice, and the DEBUG-only demo receiver."""

import json
import time

import pytest
from django.test import Client

from integrations.webhooks.models import WebhookDemoReceipt, WebhookEndpoint, WebhookMessage
from integrations.webhooks.secrets import secret_decrypt
from integrations.webhooks.services import endpoint_create, endpoint_test_send
from integrations.webhooks.signing import signed_headers
from repairs.services import repair_order_move
from tests import factories

pytestmark = pytest.mark.django_db

State = WebhookMessage.State


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def hook(shop):
    endpoint, _ = endpoint_create(shop_id=shop.id, url="https://hooks.example.com/in", events=["*"])
    return endpoint


def test_a_manager_adds_an_endpoint_and_sees_its_secret_once(manager, shop):
    client = signed_in(manager)
    page = client.get("/shops/33/settings/")
    assert b'id="webhooks"' in page.content and b"No endpoints yet" in page.content
    response = client.post(
        "/shops/33/settings/webhooks/",
        {"url": "https://hooks.example.com/in", "events": ["repair_order.created"], "description": "DMS"},
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    endpoint = WebhookEndpoint.objects.get()
    secret = secret_decrypt(endpoint.secret_encrypted)
    assert secret.encode() in response.content
    assert (endpoint.events, endpoint.description) == (["repair_order.created"], "DMS")
    listed = client.get("/shops/33/settings/")
    assert b"https://hooks.example.com/in" in listed.content and secret.encode() not in listed.content
    assert secret.encode() not in client.get(f"/shops/33/settings/webhooks/{endpoint.id}/").content


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"url": "http://hooks.example.com/in", "events": ["*"]}, b"The URL must start with https://."),
        ({"url": "https://hooks.example.com/in"}, b"This field is required."),
    ],
)
def test_a_bad_endpoint_is_refused_with_the_reason_and_nothing_saved(manager, shop, settings, data, error):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    response = signed_in(manager).post("/shops/33/settings/webhooks/", data)
    assert response.status_code == 422 and error in response.content
    assert not WebhookEndpoint.objects.exists()


def test_pause_test_rotate_resend_and_delete(manager, shop, hook):
    client = signed_in(manager)
    base = f"/shops/33/settings/webhooks/{hook.id}/"
    assert client.post(base + "test/").status_code == 302
    message = WebhookMessage.objects.get()
    assert message.event_type == "webhook.test"
    # Pending: a re-send is refused; failed: queued again.
    client.post(base + f"messages/{message.id}/resend/")
    WebhookMessage.objects.filter(pk=message.pk).update(
        state=State.FAILED, attempt_count=3, last_error="HTTP 500."
    )
    page = client.get(base)
    assert b"HTTP 500." in page.content and b"Re-send all failed (1)" in page.content
    client.post(base + "resend-failed/")
    message.refresh_from_db()
    assert (message.state, message.attempt_count, message.last_error) == (State.PENDING, 0, "")
    old = secret_decrypt(hook.secret_encrypted)
    rotated = client.post(base + "rotate/")
    hook.refresh_from_db()
    new = secret_decrypt(hook.secret_encrypted)
    assert new != old and new.encode() in rotated.content and b"24 hours" in rotated.content
    client.post(base + "enable/", {"enabled": "0"})
    hook.refresh_from_db()
    assert not hook.enabled and hook.disabled_reason == ""
    client.post(base + "enable/", {"enabled": "1"})
    hook.refresh_from_db()
    assert hook.enabled
    client.post(base, {"url": "https://other.example.com/x", "events": ["repair_order.stage_changed"]})
    hook.refresh_from_db()
    assert (hook.url, hook.events) == ("https://other.example.com/x", ["repair_order.stage_changed"])
    assert client.post(base + "delete/").status_code == 302
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(("actor", "status"), [("estimator", 403), ("viewer", 403), ("outsider", 404)])
def test_only_the_shops_managers_reach_its_endpoints(request, shop, hook, actor, status):
    client = signed_in(request.getfixturevalue(actor))
    base = f"/shops/33/settings/webhooks/{hook.id}/"
    for method, path in [
        ("get", base),
        ("post", base + "test/"),
        ("post", base + "delete/"),
        ("post", base + "rotate/"),
    ]:
        assert getattr(client, method)(path).status_code == status
    assert WebhookEndpoint.objects.filter(pk=hook.pk).exists() and not WebhookMessage.objects.exists()


def test_another_shops_endpoint_is_not_found_for_a_manager(manager, other_shop):
    theirs, _ = endpoint_create(shop_id=other_shop.id, url="https://hooks.example.com/in", events=["*"])
    client = signed_in(manager)
    assert client.get(f"/shops/33/settings/webhooks/{theirs.id}/").status_code == 404
    assert client.post(f"/shops/33/settings/webhooks/{theirs.id}/delete/").status_code == 404
    assert WebhookEndpoint.objects.filter(pk=theirs.pk).exists()


def test_the_settings_forms_need_csrf(manager, shop, hook):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    assert client.post(f"/shops/33/settings/webhooks/{hook.id}/delete/").status_code == 403
    assert WebhookEndpoint.objects.filter(pk=hook.pk).exists()


def test_a_disabled_endpoint_shows_why_on_the_board_top_bar_for_managers(manager, viewer, shop, hook):
    WebhookEndpoint.objects.filter(pk=hook.pk).update(
        enabled=False, disabled_reason="The endpoint answered 410 Gone."
    )
    board = signed_in(manager).get("/shops/33/board/")
    assert b"topbar__alert" in board.content and b"Disabled: The endpoint answered 410 Gone." in board.content
    assert b"topbar__alert" not in signed_in(viewer).get("/shops/33/board/").content


def test_a_paused_endpoint_raises_no_alert(manager, shop, hook):
    WebhookEndpoint.objects.filter(pk=hook.pk).update(enabled=False)
    assert b"topbar__alert" not in signed_in(manager).get("/shops/33/board/").content


@pytest.mark.urls("tests.webhooks.urls_debug")
def test_the_demo_receiver_shows_messages_and_whether_they_verified(client, settings, shop):
    settings.DEBUG = True
    settings.WEBHOOKS_ALLOW_PRIVATE = True  # as in the demo: the receiver is this server, over http
    url = "http://testserver/demo/webhooks/receive/"
    endpoint, secret = endpoint_create(shop_id=shop.id, url=url, events=["*"])
    body = json.dumps({"type": "webhook.test", "timestamp": "2026-12-01T10:00:00Z", "data": {}})
    good = signed_headers(secrets=[secret], webhook_id="msg_good", timestamp=int(time.time()), body=body)
    bad = signed_headers(
        secrets=["whsec_" + "A" * 44], webhook_id="msg_bad", timestamp=int(time.time()), body=body
    )
    for headers in (good, bad):
        client.post("/demo/webhooks/receive/", body, content_type="application/json", headers=headers)
    receipts = {r.webhook_id: r for r in WebhookDemoReceipt.objects.all()}
    assert receipts["msg_good"].verified and not receipts["msg_bad"].verified
    page = client.get("/demo/webhooks/")
    assert b"verified" in page.content and b"no signature matches" in page.content


@pytest.mark.urls("tests.webhooks.urls_debug")
def test_the_demo_receiver_is_off_without_debug(client, settings):
    settings.DEBUG = False
    assert client.get("/demo/webhooks/").status_code == 404


def test_the_ro_page_lists_its_webhook_deliveries_for_managers_and_resends_back_to_it(
    manager, viewer, shop, hook
):
    ro = factories.make_repair_order(shop=shop)
    repair_order_move(repair_order_id=ro.id, stage_id=4, source="board")
    message = WebhookMessage.objects.get()
    WebhookMessage.objects.filter(pk=message.pk).update(state=State.FAILED, last_error="HTTP 502.")
    page = signed_in(manager).get(f"/shops/33/ros/{ro.id}/")
    assert b"Webhook deliveries" in page.content and b"HTTP 502." in page.content
    assert b"hooks.example.com" in page.content
    assert b"Webhook deliveries" not in signed_in(viewer).get(f"/shops/33/ros/{ro.id}/").content
    back = f"/shops/33/ros/{ro.id}/"
    response = signed_in(manager).post(
        f"/shops/33/settings/webhooks/{hook.id}/messages/{message.id}/resend/", {"next": back}
    )
    assert response.status_code == 302 and response["Location"] == back
    message.refresh_from_db()
    assert message.state == State.PENDING
    evil = signed_in(manager).post(
        f"/shops/33/settings/webhooks/{hook.id}/messages/{message.id}/resend/",
        {"next": "https://evil.example/"},
    )
    assert evil["Location"] == f"/shops/33/settings/webhooks/{hook.id}/"


def test_the_admin_lists_endpoints_and_messages_without_secrets(admin_client, shop, hook):
    endpoint_test_send(endpoint_id=hook.id)
    message = WebhookMessage.objects.get()
    page = admin_client.get(f"/admin/integrations/webhookendpoint/{hook.id}/change/")
    assert page.status_code == 200 and b"hooks.example.com" in page.content
    assert hook.secret_encrypted.encode() not in page.content
    assert secret_decrypt(hook.secret_encrypted).encode() not in page.content
    listing = admin_client.get("/admin/integrations/webhookmessage/")
    assert message.webhook_id.encode() in listing.content
    WebhookMessage.objects.filter(pk=message.pk).update(
        state=State.FAILED, attempt_count=15, last_error="HTTP 500."
    )
    admin_client.post(
        "/admin/integrations/webhookmessage/",
        {"action": "resend", "_selected_action": [message.id]},
    )
    message.refresh_from_db()
    assert (message.state, message.attempt_count, message.last_error) == (State.PENDING, 0, "")
