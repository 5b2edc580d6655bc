"""RO-detail sections of the integrations, for repairs' templates to include
without repairs' Python importing integrations."""

from django import template

from repairs.permissions import EDIT_SETTINGS, PAIR_BEACON, RESEND_OBS, membership_can

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


@register.inclusion_tag("integrations/webhooks_section.html", takes_context=True)
def webhooks_section(context, shop):
    """The shop settings page's webhooks section (the page is managers' only)."""
    from django.urls import reverse

    from ..webhooks.forms import EndpointForm
    from ..webhooks.selectors import endpoints_of_shop

    return {
        "csrf_token": context.get("csrf_token"),
        "shop": shop,
        "endpoints": list(endpoints_of_shop(shop_id=shop.id)),
        "form": EndpointForm(),
        "add_url": reverse("webhook_endpoint_create", args=[shop.id]),
    }


@register.inclusion_tag("integrations/webhooks_alert.html")
def webhooks_alert(shop, membership):
    """Endpoints Shopboard disabled (410, days of failure), for the shop's managers."""
    from ..webhooks.selectors import endpoints_disabled_with_reason

    if shop is None or membership is None or not membership_can(membership, EDIT_SETTINGS):
        return {"disabled": []}
    return {"disabled": list(endpoints_disabled_with_reason(shop_id=shop.id))}
