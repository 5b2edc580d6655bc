"""The one delivery log on the RO page, as a manager uses it: OBS's and the
webhooks' deliveries in one component, every attempt, and a re-send."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from integrations.models import DeliveryAttempt, Notification, WebhookMessage
from integrations.webhooks.services import endpoint_create
from repairs.services import repair_order_move
from tests import factories
from tests.browser.conftest import axe_problems, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def failed_deliveries(shop):
    ro = factories.make_repair_order(
        shop=shop, repair_number="606471", obs_event_id="783A61C0-DDAA-4B11-A758475C419B5927"
    )
    endpoint_create(shop_id=shop.id, url="https://dms.example.com/shopboard", events=["*"])
    repair_order_move(repair_order_id=ro.id, stage_id=7, source="board")
    now = timezone.now()
    notification = Notification.objects.get(repair_order=ro)
    Notification.objects.filter(pk=notification.pk).update(
        state=Notification.State.FAILED, last_error="HTTP 400: Unknown status", attempt_count=1
    )
    DeliveryAttempt.objects.create(
        notification=notification, attempted_at=now, http_status=400, message="HTTP 400: Unknown status",
        duration_ms=84,
    )  # fmt: skip
    WebhookMessage.objects.filter(repair_order=ro).update(
        state=WebhookMessage.State.FAILED, last_error="Gave up after 15 attempts. Last: HTTP 503."
    )
    return ro, notification


def test_a_manager_reads_both_logs_and_re_sends_the_failed_obs_update(
    page, live_server, manager, shop, failed_deliveries, artifacts, page_errors
):
    ro, notification = failed_deliveries
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server.url}/shops/33/ros/{ro.id}/")
    obs = page.locator(f"#obs-deliveries-{ro.id}")
    hooks = page.locator(f"#webhook-deliveries-{ro.id}")
    expect(obs.locator(".delivery--failed")).to_contain_text("7 BODY")
    expect(obs.locator(".delivery--failed")).to_contain_text("HTTP 400: Unknown status")
    expect(hooks.locator(".delivery--failed")).to_have_count(1)
    expect(hooks.locator(".delivery--failed")).to_contain_text("dms.example.com")
    obs.get_by_text("1 attempt").click()
    expect(obs.locator(".delivery__attempts")).to_contain_text("84 ms")
    page.screenshot(path=str(artifacts / "ro-delivery-log.png"), full_page=True)
    assert axe_problems(page) == []

    obs.get_by_role("button", name="Re-send").click()
    # htmx swapped the section: the notification is queued again.
    expect(page.locator(f"#obs-deliveries-{ro.id} .delivery--pending")).to_have_count(1)
    notification.refresh_from_db()
    assert (notification.state, notification.attempt_count) == (Notification.State.PENDING, 0)
    assert page_errors == []
