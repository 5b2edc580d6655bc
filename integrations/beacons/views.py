"""The manager's beacon pairing form on the RO detail."""

from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from repairs.models import Membership, RepairOrder
from repairs.permissions import PAIR_BEACON, shop_member_required

from ..models import BeaconTag
from .services import beacon_tag_pair, beacon_tag_unpair

BEACON_ID_MAX_LENGTH = BeaconTag._meta.get_field("beacon_id").max_length
PAIR_TEMPLATE = "integrations/beacon_pair.html"


def beacon_pair_context(repair_order: RepairOrder, *, can_pair: bool, error: str = "") -> dict:
    """The RO page's beacon section (PAIR_TEMPLATE), for this view and the RO page's template tag."""
    return {
        "shop_id": repair_order.shop_id,
        "repair_order": repair_order,
        "beacon_tag": BeaconTag.objects.filter(repair_order=repair_order).first(),
        "can_pair_beacon": can_pair,
        "beacon_error": error,
    }


@require_POST
@shop_member_required(PAIR_BEACON)
def beacon_pair_view(request, repair_order_id: int, *, membership: Membership):
    """POST beacon_id=TAG-0042 pairs the tag; action=unpair (or an empty id) unpairs.
    htmx gets the section back; a plain form post returns to the RO's page."""
    shop_id = membership.shop_id
    repair_order = get_object_or_404(RepairOrder, pk=repair_order_id, shop_id=shop_id)
    beacon_id = request.POST.get("beacon_id", "").strip()
    error = ""
    if request.POST.get("action") == "unpair" or not beacon_id:
        beacon_tag_unpair(shop_id=shop_id, repair_order_id=repair_order.id)
    elif len(beacon_id) > BEACON_ID_MAX_LENGTH:
        error = f"A beacon id has at most {BEACON_ID_MAX_LENGTH} characters."
    else:
        beacon_tag_pair(shop_id=shop_id, repair_order_id=repair_order.id, beacon_id=beacon_id)
    if request.htmx or error:
        context = beacon_pair_context(repair_order, can_pair=True, error=error)
        return render(request, PAIR_TEMPLATE, context, status=422 if error else 200)
    return redirect("repair_order_detail", shop_id=shop_id, repair_order_id=repair_order.id)
