"""Input validation of the board's writes. Views validate with these, then call one service."""

from django import forms

from .models import Person, RepairOrder, Shop
from .selectors import SEARCH_MAX_LENGTH, BoardFilter

# A threshold past a year is a typo (the inputs say max 365); the column holds at most 32,767.
DAYS_IN_STAGE_MAX = 365


class MoveForm(forms.Form):
    # Stage ids are 1–15 (SPEC §1); the service resolves the Stage itself.
    stage_id = forms.IntegerField(min_value=1, max_value=15)
    version = forms.IntegerField(min_value=1)


class PersonFieldsMixin(forms.Form):
    first_name = forms.CharField(max_length=Person._meta.get_field("first_name").max_length, required=False)
    last_name = forms.CharField(max_length=Person._meta.get_field("last_name").max_length, required=False)
    title = forms.CharField(max_length=Person._meta.get_field("title").max_length, required=False)

    def clean(self):
        data = super().clean()
        # Empty means "not given", stored as NULL like the batch API does.
        for name in ("first_name", "last_name", "title"):
            if name in data:
                data[name] = data[name].strip() or None
        return data


class TeamAddForm(PersonFieldsMixin):
    """Either an existing person of the shop, or a new one by employee id."""

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
    pass


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
        return BoardFilter(q=data["q"], overdue=data["overdue"], rental=data["rental"],
                           insurer=data["insurer"].strip(), member=data["member"])


_DAYS_ERRORS = {"min_value": "At least 1 day.", "max_value": f"At most {DAYS_IN_STAGE_MAX} days."}


class ShopSettingsForm(forms.ModelForm):
    days_in_stage_amber = forms.IntegerField(
        min_value=1, max_value=DAYS_IN_STAGE_MAX, error_messages=_DAYS_ERRORS,
        label="Amber after (days in one stage)",
    )
    days_in_stage_red = forms.IntegerField(
        min_value=1, max_value=DAYS_IN_STAGE_MAX, error_messages=_DAYS_ERRORS,
        label="Red after (days in one stage)",
    )

    class Meta:
        model = Shop
        fields = ["days_in_stage_amber", "days_in_stage_red"]

    def clean(self):
        data = super().clean()
        amber, red = data.get("days_in_stage_amber"), data.get("days_in_stage_red")
        if amber is not None and red is not None and red <= amber:
            self.add_error("days_in_stage_red", "Must be more days than amber.")
        return data
