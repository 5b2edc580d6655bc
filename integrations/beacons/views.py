"""The manager's beacon pairing form on the RO detail."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from repairs.identifiers import identifier_problem
from repairs.models import RepairOrder
from repairs.permissions import PAIR_BEACON, membership_require

from ..models import BeaconTag
from .services import beacon_tag_pair, beacon_tag_unpair

BEACON_ID_MAX_LENGTH = BeaconTag._meta.get_field("beacon_id").max_length


@login_required
@require_POST
def beacon_pair_view(request, shop_id: int, repair_order_id: int):
    """POST beacon_id=TAG-0042 pairs the tag; action=unpair (or an empty id) unpairs."""
    membership_require(user=request.user, shop_id=shop_id, action=PAIR_BEACON)
    repair_order = get_object_or_404(RepairOrder, pk=repair_order_id, shop_id=shop_id)
    beacon_id = request.POST.get("beacon_id", "").strip()
    error = ""
    if request.POST.get("action") == "unpair" or not beacon_id:
        beacon_tag_unpair(shop_id=shop_id, repair_order_id=repair_order.id)
    elif len(beacon_id) > BEACON_ID_MAX_LENGTH:
        error = f"A beacon id has at most {BEACON_ID_MAX_LENGTH} characters."
    elif (problem := identifier_problem(beacon_id)) is not None:
        error = f"Not paired: the tag id {problem[0].lower()}{problem[1:]}"
    else:
        beacon_tag_pair(shop_id=shop_id, repair_order_id=repair_order.id, beacon_id=beacon_id)
    if request.htmx or error:
        context = {
            "shop_id": shop_id,
            "repair_order": repair_order,
            "beacon_tag": BeaconTag.objects.filter(repair_order=repair_order).first(),
            "can_pair_beacon": True,
            "beacon_error": error,
        }
        return render(request, "integrations/beacon_pair.html", context, status=422 if error else 200)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = f"/shops/{shop_id}/board/"
    return redirect(next_url)
