"""How the flow page writes its numbers: durations in days (hours under a day), rates in percent."""

from datetime import date

from django import template

register = template.Library()

DAY = 86400
HOUR = 3600
NONE = "–"


@register.filter
def duration(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    if seconds >= DAY:
        return f"{seconds / DAY:.1f} d"
    return f"{seconds / HOUR:.1f} h"


@register.filter
def percent(rate: float | None) -> str:
    return NONE if rate is None else f"{rate * 100:.0f} %"


@register.filter
def date_input(value) -> str:
    """A form's date (a date once cleaned, else the text sent) as an <input type=date> value."""
    return value.isoformat() if isinstance(value, date) else str(value)
