"""What a card shows that depends on the clock and the shop's thresholds.

Computed in Python once per card (not in the template) so the board of 500
ROs renders fast and the rules live in one testable place.
"""

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from .models import RepairOrder, Shop

DELIVERED_STAGE_ID = 14  # DELIVERED/CLOSED: a delivered car is never overdue.


def age_level(days: int, shop: Shop) -> str:
    if days >= shop.days_in_stage_red:
        return "red"
    if days >= shop.days_in_stage_amber:
        return "amber"
    return "ok"


def card_decorate(ro: RepairOrder, *, shop: Shop, now: datetime) -> RepairOrder:
    ro.days_in_stage = max((now - ro.stage_entered_at).days, 0)
    ro.age_level = age_level(ro.days_in_stage, shop)
    delivery = ro.scheduled_delivery
    ro.overdue = delivery is not None and delivery < now and ro.stage_id != DELIVERED_STAGE_ID
    ro.due_today = (
        not ro.overdue
        and delivery is not None
        and timezone.localdate(delivery) == timezone.localdate(now)
        and ro.stage_id != DELIVERED_STAGE_ID
    )
    ro.team_members = [link.person for link in ro.team_links.all()]
    ro.obs_problem = getattr(ro, "obs_problem", None)
    return ro


def cards_decorate(ros: Iterable[RepairOrder], *, shop: Shop, now: datetime | None = None) -> None:
    now = now or timezone.now()
    for ro in ros:
        card_decorate(ro, shop=shop, now=now)

