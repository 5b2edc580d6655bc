"""Endpoint services of the webhooks (SPEC §9): add, change, delete, rotate, disable."""

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import transport
from ..events import SUBSCRIBABLE, EventType
from ..models import WebhookEndpoint, WebhookMessage
from ..secrets import secret_encrypt, secret_new
from ..selectors import endpoints_disabled_forget

logger = logging.getLogger(__name__)

State = WebhookMessage.State


class EndpointInvalid(Exception):
    """A field of an endpoint is not acceptable; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


# ---- Endpoints ------------------------------------------------------------------------------------------------


def url_check(url: str) -> str:
    """The rules a URL must meet when it is saved; its host's addresses are
    checked again at every send (transport.py)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointInvalid("url", "Enter an absolute https:// URL.")
    if parts.scheme != "https" and not settings.WEBHOOKS_ALLOW_PRIVATE:
        raise EndpointInvalid("url", "The URL must start with https://.")
    if parts.username or parts.password:
        raise EndpointInvalid("url", "The URL must not carry a user name or password.")
    if not settings.WEBHOOKS_ALLOW_PRIVATE:
        try:
            refusal = transport._address_refusal(parts.hostname)
        except ValueError:
            refusal = None  # a name: resolved and checked at send time
        if refusal or parts.hostname.lower() == "localhost":
            raise EndpointInvalid(
                "url", f"The URL must point to a public address ({refusal or 'localhost'})."
            )
    return url


def events_check(events: Sequence[str]) -> list[str]:
    allowed = {e.value for e in SUBSCRIBABLE} | {EventType.ALL.value}
    if not events:
        raise EndpointInvalid("events", 'List at least one event, or ["*"] for all.')
    unknown = [e for e in events if e not in allowed]
    if unknown:
        raise EndpointInvalid("events", f"Unknown event {unknown[0]!r}; one of {', '.join(sorted(allowed))}.")
    return list(dict.fromkeys(events))


@transaction.atomic
def endpoint_create(
    *, shop_id: int, url: str, events: Sequence[str], description: str = "", enabled: bool = True
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (returned once: only its encryption is kept)."""
    secret = secret_new()
    endpoint = WebhookEndpoint.objects.create(
        shop_id=shop_id,
        url=url_check(url),
        events=events_check(events),
        description=description.strip(),
        enabled=enabled,
        secret_encrypted=secret_encrypt(secret),
    )
    return endpoint, secret


@transaction.atomic
def endpoint_update(
    *,
    endpoint_id: int,
    url: str | None = None,
    events: Sequence[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    """Change the given fields. Enabling clears why it was disabled and its
    failure clock (re-send its failed messages separately: they may be many)."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    if url is not None:
        endpoint.url = url_check(url)
    if events is not None:
        endpoint.events = events_check(events)
    if description is not None:
        endpoint.description = description.strip()
    if enabled is not None and enabled != endpoint.enabled:
        endpoint.enabled = enabled
        endpoint.disabled_reason = ""
        endpoint.disabled_at = None if enabled else timezone.now()
        endpoint.failing_since = None
        endpoints_disabled_forget(shop_id=endpoint.shop_id)
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint_id: int) -> None:
    for shop_id in WebhookEndpoint.objects.filter(pk=endpoint_id).values_list("shop_id", flat=True):
        endpoints_disabled_forget(shop_id=shop_id)
    WebhookEndpoint.objects.filter(pk=endpoint_id).delete()


@transaction.atomic
def endpoint_secret_rotate(*, endpoint_id: int) -> tuple[WebhookEndpoint, str]:
    """A new secret; the current one keeps signing (beside it) for
    WEBHOOKS_PREVIOUS_SECRET_SECONDS, so receivers can switch without a gap."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    secret = secret_new()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_until = timezone.now() + timedelta(
        seconds=settings.WEBHOOKS_PREVIOUS_SECRET_SECONDS
    )
    endpoint.secret_encrypted = secret_encrypt(secret)
    endpoint.save()
    return endpoint, secret


def endpoint_disable(endpoint_id: int, reason: str, now: datetime) -> None:
    """Disable an endpoint and fail what it still had pending (kept for a re-send)."""
    for shop_id in WebhookEndpoint.objects.filter(pk=endpoint_id).values_list("shop_id", flat=True):
        endpoints_disabled_forget(shop_id=shop_id)
    WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).update(
        enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now
    )
    WebhookMessage.objects.filter(endpoint_id=endpoint_id, state=State.PENDING).update(
        state=State.FAILED,
        last_error=f"Endpoint disabled: {reason}",
        next_attempt_at=None,
        updated_at=now,
    )
    logger.warning("Webhook endpoint %s disabled: %s", endpoint_id, reason)
