"""The webhooks section of a shop's settings page (managers), and the
DEBUG-only demo receiver. Each write calls one service, then redirects
back (POST/redirect/GET), except where a secret is shown: once, in the answer."""

import json
import time

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from repairs.models import Membership
from repairs.permissions import EDIT_SETTINGS, shop_member_required

from . import services
from .forms import EndpointForm
from .models import WebhookDemoReceipt, WebhookEndpoint, WebhookMessage
from .selectors import (
    endpoint_deliveries,
    endpoints_disabled_cached,
    endpoints_of_shop,
    repair_order_deliveries,
    secrets_live,
)
from .signing import signature_verify

# A demo receiver accepts messages this close to its clock (Standard Webhooks' tolerance).
TIMESTAMP_TOLERANCE_SECONDS = 5 * 60
SECTION_TEMPLATE = "integrations/webhooks_section.html"
ALERT_TEMPLATE = "integrations/webhooks_alert.html"
RO_DELIVERIES_TEMPLATE = "integrations/webhook_ro_deliveries.html"


def webhooks_section_context(shop) -> dict:
    """The settings page's webhooks section (SECTION_TEMPLATE), for its template tag."""
    return {
        "shop": shop,
        "endpoints": list(endpoints_of_shop(shop_id=shop.id)),
        "form": EndpointForm(),
        "add_url": reverse("webhook_endpoint_create", args=[shop.id]),
    }


def webhook_ro_deliveries_context(repair_order) -> dict:
    """The RO page's webhook deliveries (RO_DELIVERIES_TEMPLATE), for its template tag."""
    return {
        "show": True,
        "repair_order": repair_order,
        "webhook_messages": repair_order_deliveries(repair_order_id=repair_order.id),
        "endpoint_count": WebhookEndpoint.objects.filter(shop_id=repair_order.shop_id).count(),
    }


def webhooks_alert_context(shop) -> dict:
    """The top bar's notice of endpoints Shopboard disabled (ALERT_TEMPLATE)."""
    return {"disabled": endpoints_disabled_cached(shop_id=shop.id)}


def _endpoint(membership: Membership, endpoint_id: int) -> WebhookEndpoint:
    # Another shop's endpoint is not found, as the shop itself would not be.
    return get_object_or_404(WebhookEndpoint, pk=endpoint_id, shop_id=membership.shop_id)


def _back(endpoint: WebhookEndpoint):
    return redirect("webhook_endpoint", shop_id=endpoint.shop_id, endpoint_id=endpoint.id)


def _secret_page(request, membership: Membership, endpoint: WebhookEndpoint, secret: str, *, rotated: bool):
    response = render(
        request,
        "integrations/webhook_secret.html",
        {
            "shop": membership.shop,
            "membership": membership,
            "endpoint": endpoint,
            "secret": secret,
            "rotated": rotated,
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@shop_member_required(EDIT_SETTINGS)
def webhook_endpoint_create(request, *, membership: Membership):
    form = EndpointForm(request.POST)
    if form.is_valid():
        try:
            endpoint, secret = services.endpoint_create(shop_id=membership.shop_id, **form.cleaned_data)
        except services.EndpointInvalid as exc:
            form.add_error(exc.field, exc.message)
        else:
            return _secret_page(request, membership, endpoint, secret, rotated=False)
    context = {"shop": membership.shop, "membership": membership, "form": form}
    return render(request, "integrations/webhook_new.html", context, status=422)


@require_http_methods(["GET", "POST"])
@shop_member_required(EDIT_SETTINGS)
def webhook_endpoint(request, endpoint_id: int, *, membership: Membership):
    """One endpoint: edit it, and its recent deliveries with every attempt."""
    endpoint = _endpoint(membership, endpoint_id)
    initial = {"url": endpoint.url, "events": endpoint.events, "description": endpoint.description}
    form = EndpointForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.endpoint_update(endpoint_id=endpoint.id, **form.cleaned_data)
            except services.EndpointInvalid as exc:
                form.add_error(exc.field, exc.message)
            else:
                messages.success(request, "Endpoint saved.")
                return _back(endpoint)
        status = 422
    context = {
        "shop": membership.shop,
        "membership": membership,
        "endpoint": endpoint,
        "form": form,
        "deliveries": endpoint_deliveries(endpoint_id=endpoint.id),
        "failed_count": endpoint.messages.filter(state=WebhookMessage.State.FAILED).count(),
    }
    return render(request, "integrations/webhook_endpoint.html", context, status=status)


@require_POST
@shop_member_required(EDIT_SETTINGS)
def webhook_endpoint_enable(request, endpoint_id: int, *, membership: Membership):
    endpoint = _endpoint(membership, endpoint_id)
    enable = request.POST.get("enabled") == "1"
    services.endpoint_update(endpoint_id=endpoint.id, enabled=enable)
    messages.success(
        request, "Endpoint enabled." if enable else "Endpoint paused: no events are recorded for it."
    )
    return _back(endpoint)


@require_POST
@shop_member_required(EDIT_SETTINGS)
def webhook_endpoint_delete(request, endpoint_id: int, *, membership: Membership):
    endpoint = _endpoint(membership, endpoint_id)
    services.endpoint_delete(endpoint_id=endpoint.id)
    messages.success(request, f"Endpoint {endpoint.url} deleted.")
    return redirect("shop_settings", shop_id=membership.shop_id)


@require_POST
@shop_member_required(EDIT_SETTINGS)
def webhook_endpoint_rotate(request, endpoint_id: int, *, membership: Membership):
    endpoint = _endpoint(membership, endpoint_id)
    endpoint, secret = services.endpoint_secret_rotate(endpoint_id=endpoint.id)
    return _secret_page(request, membership, endpoint, secret, rotated=True)


@require_POST
@shop_member_required(EDIT_SETTINGS)
def webhook_endpoint_test(request, endpoint_id: int, *, membership: Membership):
    endpoint = _endpoint(membership, endpoint_id)
    message = services.endpoint_test_send(endpoint_id=endpoint.id)
    messages.success(request, f"Test event {message.webhook_id} queued.")
    return _back(endpoint)


@require_POST
@shop_member_required(EDIT_SETTINGS)
def webhook_message_resend(request, endpoint_id: int, message_id: int, *, membership: Membership):
    endpoint = _endpoint(membership, endpoint_id)
    message = get_object_or_404(WebhookMessage, pk=message_id, endpoint=endpoint)
    try:
        services.webhook_message_resend(message_id=message.id)
    except services.NotResendable as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Message {message.webhook_id} queued again.")
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(next_url)  # the RO page it was sent from
    return _back(endpoint)


@require_POST
@shop_member_required(EDIT_SETTINGS)
def webhook_messages_resend_failed(request, endpoint_id: int, *, membership: Membership):
    endpoint = _endpoint(membership, endpoint_id)
    try:
        count = services.webhook_messages_resend_failed(endpoint_id=endpoint.id)
    except services.NotResendable as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{count} failed message{'s' if count != 1 else ''} queued again.")
    return _back(endpoint)


# ---- Demo receiver (DEBUG only; routed by shopboard/urls.py only when DEBUG) ----


def _demo_only():
    if not settings.DEBUG:
        raise Http404


def _verification(request, body: str) -> str:
    """Why the message does not verify, or "" when it does: against the
    secrets of the endpoints pointing at this receiver, as a receiver would."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        timestamp = int(headers.get("webhook-timestamp", ""))
    except ValueError:
        return "no valid webhook-timestamp"
    if abs(time.time() - timestamp) > TIMESTAMP_TOLERANCE_SECONDS:
        return "timestamp outside 5 minutes"
    url = request.build_absolute_uri(request.path)
    for endpoint in WebhookEndpoint.objects.filter(url=url):
        if signature_verify(
            secrets=secrets_live(endpoint),
            webhook_id=headers.get("webhook-id", ""),
            timestamp=timestamp,
            body=body,
            header=headers.get("webhook-signature", ""),
        ):
            return ""
    return "no signature matches an endpoint's secret"


@csrf_exempt
@require_POST
def demo_webhooks_receive(request):
    _demo_only()
    body = request.body.decode("utf-8", errors="replace")
    try:
        event_type = str(json.loads(body).get("type", ""))[:60]
    except (ValueError, AttributeError):
        event_type = ""
    error = _verification(request, body)
    WebhookDemoReceipt.objects.create(
        webhook_id=request.headers.get("webhook-id", "")[:100],
        event_type=event_type,
        body=body,
        verified=not error,
        verification_error=error,
    )
    return JsonResponse({"received": True}, status=200 if not error else 400)


@require_GET
def demo_webhooks_page(request):
    _demo_only()
    receipts = list(WebhookDemoReceipt.objects.order_by("-received_at", "-id")[:200])
    for receipt in receipts:
        try:
            receipt.pretty = json.dumps(json.loads(receipt.body), indent=2)
        except ValueError:
            receipt.pretty = receipt.body
    return render(request, "integrations/demo_webhooks.html", {"receipts": receipts})


def demo_webhooks_clear(request) -> HttpResponse:
    _demo_only()
    if request.method == "POST":
        WebhookDemoReceipt.objects.all().delete()
    return redirect("demo_webhooks")
