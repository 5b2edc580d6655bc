"""The webhooks section of the settings page, as a manager uses it."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from integrations.webhooks.models import WebhookEndpoint, WebhookMessage
from integrations.webhooks.secrets import secret_decrypt
from integrations.webhooks.services import endpoint_disable
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_adds_tests_and_reads_deliveries_of_an_endpoint(
    page, live_server, manager, shop, artifacts, page_errors, settings
):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server.url}/shops/33/settings/")
    page.get_by_label("URL").fill("https://dms.example.com/shopboard")
    page.get_by_label("repair_order.stage_changed").check()
    page.get_by_label("Every event").uncheck()
    page.get_by_label("Description").fill("DMS")
    page.screenshot(path=str(artifacts / "webhooks-settings-add.png"), full_page=True)
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.locator("#webhook-secret").inner_text()
    endpoint = WebhookEndpoint.objects.get()
    assert secret == secret_decrypt(endpoint.secret_encrypted)
    assert endpoint.events == ["repair_order.stage_changed"]
    page.screenshot(path=str(artifacts / "webhooks-secret.png"))
    page.get_by_role("link", name="I have copied it").click()
    page.get_by_role("button", name="Send a test event").click()
    expect(page.locator(".messages")).to_contain_text("Test event msg_")
    WebhookMessage.objects.update(state=WebhookMessage.State.FAILED, last_error="HTTP 503.")
    page.reload()
    expect(page.get_by_role("button", name="Re-send all failed (1)")).to_be_enabled()
    page.screenshot(path=str(artifacts / "webhooks-endpoint.png"), full_page=True)
    # As the engine disables it (a 410): the board's cached notice is dropped on commit.
    endpoint_disable(endpoint.id, "The endpoint answered 410 Gone.", timezone.now())
    page.goto(f"{live_server.url}/shops/33/board/")
    expect(page.locator(".topbar__alert")).to_contain_text("Webhook to dms.example.com disabled")
    expect(page.locator(".topbar__alert")).to_have_attribute(
        "title", "Disabled: The endpoint answered 410 Gone."
    )
    page.screenshot(path=str(artifacts / "webhooks-board-alert.png"))
    assert page_errors == []
