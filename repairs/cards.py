"""What a card shows that depends on the clock and the shop's thresholds, and
the card's display texts.

Computed in Python once per distinct value per board, with the very
functions the template filters use, so the rules live in one testable place
and a big board renders fast (docs/bench.md, "Board").
"""

from collections.abc import Iterable
from datetime import date, datetime

from django.db.models import Q
from django.template.defaultfilters import floatformat
from django.utils import timezone
from django.utils.dateformat import format as date_format

from .models import Person, RepairOrder, Shop
from .stages import DELIVERED_STAGE_ID


def overdue_condition(*, now: datetime) -> Q:
    """card_decorate's `overdue` in SQL, for the board's counts and its "overdue" filter."""
    return Q(scheduled_delivery__lt=now) & ~Q(stage_id=DELIVERED_STAGE_ID)


def age_level(days: int, shop: Shop) -> str:
    if days >= shop.days_in_stage_red:
        return "red"
    if days >= shop.days_in_stage_amber:
        return "amber"
    return "ok"


class _Texts:
    """Display texts shared by the cards of one board: each distinct date,
    number of hours and person is formatted once."""

    def __init__(self):
        self._days: dict[date, tuple[str, str]] = {}
        self._hours: dict = {}
        self._people: dict[int, tuple[str, str]] = {}

    def delivery(self, moment: datetime) -> tuple[str, str]:
        """("Tue 24 Nov", "Tue 24 Nov 2026, 17:00") in the current time zone: the date filter's
        'D j M' and 'D j M Y, H:i'."""
        local = timezone.localtime(moment)
        day = local.date()
        if day not in self._days:
            self._days[day] = (date_format(local, "D j M"), date_format(local, "D j M Y"))
        label, with_year = self._days[day]
        return label, f"{with_year}, {local.hour:02d}:{local.minute:02d}"

    def hours(self, value) -> str:
        if value not in self._hours:
            # Up to the two decimals stored, no trailing zeros: 13.5, 0.25, 48.
            text = floatformat(value, 2)
            self._hours[value] = text.rstrip("0").rstrip(".") if "." in text else text
        return self._hours[value]

    def avatar(self, person: Person) -> tuple[str, str]:
        """(title, initials) of a team member's avatar: "Meriadoc Brandybuck — Estimator", "MB"."""
        if person.pk not in self._people:
            title = f"{person} — {person.title}" if person.title else str(person)
            self._people[person.pk] = (title, person.initials)
        return self._people[person.pk]


def card_decorate(ro: RepairOrder, *, shop: Shop, now: datetime, texts: _Texts | None = None) -> RepairOrder:
    texts = texts or _Texts()
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
    ro.delivery_label, ro.delivery_title = texts.delivery(delivery) if delivery is not None else ("", "")
    hours = ro.total_estimated_hours
    ro.hours_label = texts.hours(hours) if hours is not None else ""
    if not hasattr(ro, "team_members"):  # selectors.board_load loads the board's teams itself
        ro.team_members = [link.person for link in ro.team_links.all()]
    ro.team_avatars = [texts.avatar(person) for person in ro.team_members]
    ro.obs_problem = getattr(ro, "obs_problem", None)
    ro.board_sort_key = board_sort_key(ro)
    return ro


def board_sort_key(ro: RepairOrder) -> str:
    """A card's place in its column as text that sorts like the board's ORDER BY
    scheduled_delivery, repair_number (no delivery date last): board.js puts a
    card a delta brings where a full render would."""
    delivery = ro.scheduled_delivery
    when = f"{int(delivery.timestamp()):011d}" if delivery is not None else "~"
    return f"{when}|{ro.repair_number}"


def cards_decorate(ros: Iterable[RepairOrder], *, shop: Shop, now: datetime | None = None) -> None:
    now = now or timezone.now()
    texts = _Texts()
    for ro in ros:
        card_decorate(ro, shop=shop, now=now, texts=texts)
