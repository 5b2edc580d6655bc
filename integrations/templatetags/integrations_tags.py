"""RO-detail sections of the integrations, for repairs' templates to include
without repairs' Python importing integrations."""

from django import template

from repairs.permissions import PAIR_BEACON, RESEND_OBS, membership_can

from ..models import BeaconTag
from ..obs.selectors import obs_deliveries_for

register = template.Library()


@register.inclusion_tag("integrations/obs_deliveries.html", takes_context=True)
def obs_deliveries(context, repair_order, membership):
    return {
        "request": context.get("request"),
        "csrf_token": context.get("csrf_token"),
        "shop_id": repair_order.shop_id,
        "repair_order": repair_order,
        "obs_notifications": obs_deliveries_for(repair_order_id=repair_order.id),
        "can_resend_obs": membership_can(membership, RESEND_OBS),
    }


@register.inclusion_tag("integrations/beacon_pair.html", takes_context=True)
def beacon_pair(context, repair_order, membership):
    return {
        "request": context.get("request"),
        "csrf_token": context.get("csrf_token"),
        "shop_id": repair_order.shop_id,
        "repair_order": repair_order,
        "beacon_tag": BeaconTag.objects.filter(repair_order=repair_order).first(),
        "can_pair_beacon": membership_can(membership, PAIR_BEACON),
    }
