"""Input validation of the board's writes. Views validate with these, then call one service."""

from datetime import date, timedelta

from django import forms

from .flow import DEFAULT_PERIOD_DAYS, PeriodInvalid, flow_default_dates, flow_period_check
from .models import Person, RepairOrder, Shop, time_zone_names
from .people import PERSON_FIELDS
from .selectors import SEARCH_MAX_LENGTH, BoardFilter
from .stages import STAGES

# A threshold past a year is a typo (the inputs say max 365); the column holds at most 32,767.
DAYS_IN_STAGE_MAX = 365


class MoveForm(forms.Form):
    # The service resolves the Stage itself.
    stage_id = forms.TypedChoiceField(choices=[(stage_id, name) for _, stage_id, name in STAGES], coerce=int)
    version = forms.IntegerField(min_value=1)


class PersonFieldsMixin(forms.Form):
    """A person's fields; `cleaned_data["person_fields"]` holds the ones given (repairs.people)."""

    first_name = forms.CharField(max_length=Person._meta.get_field("first_name").max_length, required=False)
    last_name = forms.CharField(max_length=Person._meta.get_field("last_name").max_length, required=False)
    title = forms.CharField(max_length=Person._meta.get_field("title").max_length, required=False)
    # Whether a blank box is given (as None: it clears) or left out (kept).
    blank_is_given = True

    def clean(self):
        data = super().clean()
        values = {name: (data.get(name) or "").strip() or None for name in PERSON_FIELDS}
        data["person_fields"] = {
            name: value for name, value in values.items() if value is not None or self.blank_is_given
        }
        return data


class TeamAddForm(PersonFieldsMixin):
    """Either an existing person of the shop, or a new one by employee id.

    Its boxes start empty, so a blank one was not given: adding a known
    employee id keeps the name and title the shop has for them.
    """

    blank_is_given = False

    person_id = forms.IntegerField(required=False, min_value=1)
    external_id = forms.CharField(
        max_length=Person._meta.get_field("external_id").max_length, required=False, label="Employee id"
    )

    def clean(self):
        data = super().clean()
        external_id = (data.get("external_id") or "").strip()
        data["external_id"] = external_id or None
        if data.get("person_id") is None and not external_id:
            raise forms.ValidationError("Pick a person or give the new person's employee id.")
        return data


class PersonUpdateForm(PersonFieldsMixin):
    """The person editor: its boxes show the stored values, so an emptied one clears."""


class BoardFilterForm(forms.Form):
    """The board's search box and quick filters, from its URL (SPEC §7)."""

    q = forms.CharField(required=False, max_length=SEARCH_MAX_LENGTH, strip=True)
    overdue = forms.BooleanField(required=False)
    rental = forms.BooleanField(required=False)
    insurer = forms.CharField(
        required=False, max_length=RepairOrder._meta.get_field("insurance_name").max_length
    )
    member = forms.IntegerField(required=False, min_value=1)

    def board_filter(self) -> BoardFilter:
        """The filter asked for; a hand-edited URL with a bad value shows the whole board."""
        if not self.is_valid():
            return BoardFilter()
        data = self.cleaned_data
        return BoardFilter(
            q=data["q"],
            overdue=data["overdue"],
            rental=data["rental"],
            insurer=data["insurer"].strip(),
            member=data["member"],
        )


_DAYS_ERRORS = {"min_value": "At least 1 day.", "max_value": f"At most {DAYS_IN_STAGE_MAX} days."}


class ShopSettingsForm(forms.ModelForm):
    days_in_stage_amber = forms.IntegerField(
        min_value=1,
        max_value=DAYS_IN_STAGE_MAX,
        error_messages=_DAYS_ERRORS,
        label="Amber after (days in one stage)",
    )
    days_in_stage_red = forms.IntegerField(
        min_value=1,
        max_value=DAYS_IN_STAGE_MAX,
        error_messages=_DAYS_ERRORS,
        label="Red after (days in one stage)",
    )

    class Meta:
        model = Shop
        fields = ["days_in_stage_amber", "days_in_stage_red", "time_zone"]
        labels = {
            "days_in_stage_amber": "Amber after (days in one stage)",
            "days_in_stage_red": "Red after (days in one stage)",
            "time_zone": "Time zone",
        }
        help_texts = {"time_zone": "The shop's days and weeks in the flow figures begin at midnight here."}
        widgets = {"time_zone": forms.Select(choices=[(name, name) for name in sorted(time_zone_names())])}

    def clean(self):
        data = super().clean()
        amber, red = data.get("days_in_stage_amber"), data.get("days_in_stage_red")
        if amber is not None and red is not None and red <= amber:
            self.add_error("days_in_stage_red", "Must be more days than amber.")
        return data


class FlowPeriodForm(forms.Form):
    """The flow page's period: the last 30/90/365 days, or from–to (GET ?days= or ?from=&to=)."""

    LAST_DAYS = (30, 90, 365)

    days = forms.TypedChoiceField(
        choices=[(n, f"Last {n} days") for n in LAST_DAYS], coerce=int, required=False
    )

    def __init__(self, *args, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        # `from` is a Python keyword: the fields are named like the API's parameters.
        self.fields["from"] = forms.DateField(required=False, input_formats=["%Y-%m-%d"], label="From")
        self.fields["to"] = forms.DateField(required=False, input_formats=["%Y-%m-%d"], label="To")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        data["custom"] = bool(data.get("from") or data.get("to"))
        if data["custom"]:
            date_to = data.get("to") or self.today
            date_from = data.get("from") or flow_default_dates(today=date_to)[0]
        else:
            days = data.get("days") or DEFAULT_PERIOD_DAYS
            date_from, date_to = self.today - timedelta(days=days - 1), self.today
        try:
            flow_period_check(date_from=date_from, date_to=date_to)
        except PeriodInvalid as invalid:
            self.add_error(invalid.field, str(invalid))
            return data
        data["date_from"], data["date_to"] = date_from, date_to
        return data
