"""An endpoint down past the retry window, and down for "days": a worker
whose window and disable-after are seconds, so both happen within a test."""

import pytest

from integrations.webhooks.models import WebhookMessage
from integrations.webhooks.services import (
    endpoint_create,
    endpoint_test_send,
    endpoint_update,
    webhook_messages_resend_failed,
)
from tests.obs.support import wait_until
from tests.webhooks.conftest import start_worker
from tests.webhooks.support import Reply

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

State = WebhookMessage.State
SHORT = {"WEBHOOKS_RETRY_WINDOW_SECONDS": "1.5", "WEBHOOKS_DISABLE_AFTER_SECONDS": "4"}


@pytest.fixture(scope="module")
def short_worker(django_db_setup, receiver_server, tmp_path_factory):
    worker = start_worker(receiver_server, tmp_path_factory.mktemp("celery"), **SHORT)
    yield worker
    worker.stop()


@pytest.fixture(autouse=True)
def _worker(request, short_worker, webhooks_settings):
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(short_worker.log()[-6000:])


def test_down_past_the_window_ends_failed_then_days_of_failure_disable_it(shop, receiver):
    receiver.default = Reply(503, {"message": "down"})
    hook, _ = endpoint_create(shop_id=shop.id, url=receiver.url_for("/down"), events=["*"])
    first = endpoint_test_send(endpoint_id=hook.id)
    wait_until(
        lambda: WebhookMessage.objects.get(pk=first.pk).state == State.FAILED, timeout=20, message="give up"
    )
    first.refresh_from_db()
    assert first.last_error.startswith("Gave up after") and "HTTP 503" in first.last_error
    assert first.attempts.count() >= 3
    hook.refresh_from_db()
    assert hook.enabled and hook.failing_since is not None

    # Still failing past WEBHOOKS_DISABLE_AFTER_SECONDS: disabled, and why.
    endpoint_test_send(endpoint_id=hook.id)
    wait_until(lambda: not type(hook).objects.get(pk=hook.pk).enabled, timeout=20, message="disabled")
    hook.refresh_from_db()
    assert hook.disabled_reason.startswith("Every delivery failed for")
    assert "HTTP 503" in hook.disabled_reason

    # Back up: re-enabled, the failed ones replayed and delivered.
    receiver.default = Reply()
    endpoint_update(endpoint_id=hook.id, enabled=True)
    assert webhook_messages_resend_failed(endpoint_id=hook.id) == 2
    wait_until(
        lambda: WebhookMessage.objects.filter(endpoint=hook, state=State.DELIVERED).count() == 2,
        timeout=20,
        message="replayed",
    )
    hook.refresh_from_db()
    assert hook.enabled and hook.failing_since is None and hook.disabled_reason == ""
