"""One table, a view per destination: OBS's and the webhooks' names for the
one outbox's rows keep to their kind, and the admin shows each."""

from django.utils import timezone

from integrations.delivery.models import Attempt, Destination, Message
from integrations.models import DeliveryAttempt, Notification, WebhookMessage
from integrations.webhooks.services import endpoint_create
from tests import factories


def test_each_destination_sees_only_its_own_messages_of_the_one_table(shop):
    ro = factories.make_repair_order(shop=shop, obs_event_id="E1")
    notification = Notification.objects.create(repair_order=ro, obs_event_id="E1", stage_id=3)
    hook, _ = endpoint_create(shop_id=shop.id, url="https://hooks.example.com/in", events=["*"])
    message = WebhookMessage.objects.create(endpoint=hook, repair_order=ro, event_type="x", body="{}")
    assert sorted(Message.objects.values_list("id", "destination")) == [
        (notification.id, Destination.OBS),
        (message.id, Destination.WEBHOOK),
    ]
    assert list(Notification.objects.values_list("id", flat=True)) == [notification.id]
    assert list(WebhookMessage.objects.values_list("id", flat=True)) == [message.id]
    assert notification.event_type == "repair_order.stage_changed"
    assert message.webhook_id == message.public_id and message.public_id.startswith("msg_")


def test_an_obs_attempt_keeps_obs_words_over_the_shared_attempt_row(shop):
    ro = factories.make_repair_order(shop=shop, obs_event_id="E1")
    notification = Notification.objects.create(repair_order=ro, obs_event_id="E1", stage_id=3)
    DeliveryAttempt.objects.create(
        notification=notification, attempted_at=timezone.now(), http_status=400, message="HTTP 400: no",
        duration_ms=3,
    )  # fmt: skip
    [row] = Attempt.objects.all()
    assert (row.message_id, row.error, row.response_excerpt) == (notification.id, "HTTP 400: no", "")
    [seen] = DeliveryAttempt.objects.filter(notification=notification)
    assert (seen.message, seen.notification.id) == ("HTTP 400: no", notification.id)
    assert [a.message for a in notification.attempts] == ["HTTP 400: no"]


# An event id no random token, id or CSRF value of a page can contain by chance.
OBS_ONLY_EVENT = "obs-event-seen-only-by-obs"


def test_the_admin_shows_each_destinations_messages_with_their_attempts(admin_client, shop):
    ro = factories.make_repair_order(shop=shop, obs_event_id=OBS_ONLY_EVENT)
    notification = Notification.objects.create(repair_order=ro, obs_event_id=OBS_ONLY_EVENT, stage_id=3)
    DeliveryAttempt.objects.create(
        notification=notification, attempted_at=timezone.now(), http_status=400, message="HTTP 400: nope",
        duration_ms=3,
    )  # fmt: skip
    hook, _ = endpoint_create(shop_id=shop.id, url="https://hooks.example.com/in", events=["*"])
    message = WebhookMessage.objects.create(endpoint=hook, repair_order=ro, event_type="x", body="{}")
    Attempt.objects.create(
        message=message, attempted_at=timezone.now(), http_status=500, error="HTTP 500.", duration_ms=4
    )
    page = admin_client.get(f"/admin/integrations/notification/{notification.id}/change/")
    assert page.status_code == 200 and b"HTTP 400: nope" in page.content
    page = admin_client.get(f"/admin/integrations/webhookmessage/{message.id}/change/")
    assert page.status_code == 200 and b"HTTP 500." in page.content
    listing = admin_client.get("/admin/integrations/webhookmessage/").content
    assert message.public_id.encode() in listing and OBS_ONLY_EVENT.encode() not in listing
    assert OBS_ONLY_EVENT.encode() in admin_client.get("/admin/integrations/notification/").content
