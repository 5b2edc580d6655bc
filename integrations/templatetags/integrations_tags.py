"""RO-detail sections of the integrations, for repairs' templates to include
without repairs' Python importing integrations."""

from django import template

from repairs.permissions import EDIT_SETTINGS, PAIR_BEACON, RESEND_OBS, membership_can

from ..beacons.views import PAIR_TEMPLATE, beacon_pair_context
from ..delivery.adapters import adapter_for
from ..obs.views import DELIVERIES_TEMPLATE, obs_deliveries_context
from ..webhooks.views import (
    ALERT_TEMPLATE,
    RO_DELIVERIES_TEMPLATE,
    SECTION_TEMPLATE,
    webhook_ro_deliveries_context,
    webhooks_alert_context,
    webhooks_section_context,
)

register = template.Library()


@register.simple_tag
def delivery_resend_url(message, shop_id) -> str:
    """Where the delivery log's Re-send button of this message posts."""
    return adapter_for(message.destination).resend_url(message, shop_id=shop_id)


def _form_context(context) -> dict:
    # The sections hold forms: they need the page's request and CSRF token.
    return {"request": context.get("request"), "csrf_token": context.get("csrf_token")}


@register.inclusion_tag(DELIVERIES_TEMPLATE, takes_context=True)
def obs_deliveries(context, repair_order, membership):
    can_resend = membership_can(membership, RESEND_OBS)
    return _form_context(context) | obs_deliveries_context(repair_order, can_resend=can_resend)


@register.inclusion_tag(PAIR_TEMPLATE, takes_context=True)
def beacon_pair(context, repair_order, membership):
    can_pair = membership_can(membership, PAIR_BEACON)
    return _form_context(context) | beacon_pair_context(repair_order, can_pair=can_pair)


@register.inclusion_tag(SECTION_TEMPLATE, takes_context=True)
def webhooks_section(context, shop):
    """The shop settings page's webhooks section (the page is managers' only)."""
    return _form_context(context) | webhooks_section_context(shop)


@register.inclusion_tag(ALERT_TEMPLATE)
def webhooks_alert(shop, membership):
    """Endpoints Shopboard disabled (410, days of failure), for the shop's managers."""
    if shop is None or membership is None or not membership_can(membership, EDIT_SETTINGS):
        return {"disabled": []}
    return webhooks_alert_context(shop)


@register.inclusion_tag(RO_DELIVERIES_TEMPLATE, takes_context=True)
def webhook_deliveries(context, repair_order, membership):
    """The RO page's webhook deliveries, for the shop's managers (who manage the endpoints)."""
    if not membership_can(membership, EDIT_SETTINGS):
        return {"show": False}
    return _form_context(context) | webhook_ro_deliveries_context(repair_order)
