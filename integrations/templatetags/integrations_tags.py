"""RO-detail sections of the integrations, for repairs' templates to include
without repairs' Python importing integrations."""

from django import template

from repairs.permissions import PAIR_BEACON, RESEND_OBS, membership_can

from ..beacons.views import PAIR_TEMPLATE, beacon_pair_context
from ..obs.views import DELIVERIES_TEMPLATE, obs_deliveries_context

register = template.Library()


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
