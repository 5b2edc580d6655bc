"""`make run`'s webhook: every shop gets an endpoint at the built-in demo
receiver (/demo/webhooks/receive/, DEBUG only), so a move on the board shows
up, verified, at /demo/webhooks/."""

from django.db import transaction

from repairs.models import Shop

from .events import EventType
from .models import WebhookEndpoint
from .selectors import endpoints_disabled_forget
from .services import endpoint_create

DEMO_DESCRIPTION = "Demo receiver (make run)"


@transaction.atomic
def demo_endpoints_ensure(*, url: str) -> int:
    """An enabled endpoint for every event at `url` in each shop that has none; returns how many were added."""
    added = 0
    for shop in Shop.objects.exclude(webhook_endpoints__url=url):
        endpoint_create(shop_id=shop.id, url=url, events=[EventType.ALL], description=DEMO_DESCRIPTION)
        added += 1
    for shop_id in WebhookEndpoint.objects.filter(url=url, enabled=False).values_list("shop_id", flat=True):
        endpoints_disabled_forget(shop_id=shop_id)
    WebhookEndpoint.objects.filter(url=url, enabled=False).update(enabled=True, disabled_reason="")
    return added
