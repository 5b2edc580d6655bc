"""Board-side OBS views: re-send (managers), and the DEBUG-only demo receiver."""

import json

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from repairs.models import Membership, RepairOrder, Stage
from repairs.permissions import RESEND_OBS, shop_member_required

from ..models import Notification, ObsReceivedUpdate
from .selectors import obs_deliveries_for, obs_received_updates
from .services import NotResendable, notification_resend

DELIVERIES_TEMPLATE = "integrations/obs_deliveries.html"


def obs_deliveries_context(repair_order: RepairOrder, *, can_resend: bool, error: str = "") -> dict:
    """The RO page's OBS section (DELIVERIES_TEMPLATE), for this view and the RO page's template tag."""
    return {
        "shop_id": repair_order.shop_id,
        "repair_order": repair_order,
        "obs_notifications": obs_deliveries_for(repair_order_id=repair_order.id),
        "can_resend_obs": can_resend,
        "obs_error": error,
    }


@require_POST
@shop_member_required(RESEND_OBS)
def notification_resend_view(request, repair_order_id: int, notification_id: int, *, membership: Membership):
    """Re-send an RO's newest notification (managers). htmx gets the deliveries
    section back; a plain form post returns to the RO's page."""
    repair_order = get_object_or_404(RepairOrder, pk=repair_order_id, shop_id=membership.shop_id)
    notification = get_object_or_404(Notification, pk=notification_id, repair_order=repair_order)
    error = ""
    status = 200
    try:
        notification_resend(notification_id=notification.id)
    except NotResendable as exc:
        error, status = str(exc), 409
    if request.htmx or status != 200:
        context = obs_deliveries_context(repair_order, can_resend=True, error=error)
        return render(request, DELIVERIES_TEMPLATE, context, status=status)
    return redirect("repair_order_detail", shop_id=membership.shop_id, repair_order_id=repair_order.id)


# ---- Demo OBS (DEBUG only; routed by shopboard/urls.py only when DEBUG) ----

DEMO_MODE_CACHE_KEY = "demo-obs-mode"
# What the demo OBS answers, so a newcomer can watch retries and failures.
DEMO_MODES = {
    "ok": (200, {"success": True}),
    "unavailable": (503, {"message": "Demo OBS is unavailable (retried with backoff)."}),
    "rejected": (400, {"message": "Demo OBS rejected the update (fails at once)."}),
    "error-body": (200, {"Error": "Invalid Api Key"}),
}


def _demo_only():
    if not settings.DEBUG:
        raise Http404


@csrf_exempt
@require_POST
def demo_obs_receive(request):
    """Stands in for OBS's updateevent endpoint: stores what it gets."""
    _demo_only()
    try:
        body = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return JsonResponse({"Error": "Body is not JSON."}, status=400)
    valid = (
        isinstance(body, list)
        and len(body) == 1
        and isinstance(body[0], dict)
        and isinstance(body[0].get("obs_event_id"), str)
        and isinstance(body[0].get("status"), str)
    )
    if not valid:
        return JsonResponse({"Error": 'Expected [{"obs_event_id": "…", "status": "…"}].'}, status=400)
    api_key = request.headers.get("apikey", "")
    if not api_key or (settings.OBS_API_KEY and api_key != settings.OBS_API_KEY):
        # Real OBS answers a bad key with HTTP 200 and an error member.
        return JsonResponse({"Error": "Invalid Api Key"})
    status, answer = DEMO_MODES.get(cache.get(DEMO_MODE_CACHE_KEY, "ok"), DEMO_MODES["ok"])
    if status == 200 and "Error" not in answer:
        ObsReceivedUpdate.objects.create(api_key=api_key[:200], body=body)
    return JsonResponse(answer, status=status)


def demo_obs_page(request):
    """What the demo OBS received, newest first, and a switch for its answers."""
    _demo_only()
    if request.method == "POST":
        # CSRF-protected: only the page's own form switches the mode.
        mode = request.POST.get("mode", "ok")
        cache.set(DEMO_MODE_CACHE_KEY, mode if mode in DEMO_MODES else "ok", None)
        return redirect(request.path)
    updates = list(obs_received_updates())
    event_ids = {u.body[0]["obs_event_id"] for u in updates}
    repair_orders = {
        ro.obs_event_id: ro
        for ro in RepairOrder.objects.filter(obs_event_id__in=event_ids).select_related("shop")
    }
    stages = {str(s.id): s.name for s in Stage.objects.all()}
    rows = [
        {
            "received_at": u.received_at,
            "obs_event_id": u.body[0]["obs_event_id"],
            "status": u.body[0]["status"],
            "stage_name": stages.get(u.body[0]["status"], ""),
            "repair_order": repair_orders.get(u.body[0]["obs_event_id"]),
        }
        for u in updates
    ]
    context = {
        "rows": rows,
        "mode": cache.get(DEMO_MODE_CACHE_KEY, "ok"),
        "modes": list(DEMO_MODES),
        "outbox": dict(Notification.objects.order_by().values_list("state").annotate(n=Count("id"))),
    }
    return render(request, "integrations/demo_obs.html", context)
