"""Input validation of the board's writes. Views validate with these, then call one service."""

from django import forms

from .models import Person, Shop
from .people import PERSON_FIELDS
from .stages import STAGES


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


class ShopSettingsForm(forms.ModelForm):
    class Meta:
        model = Shop
        fields = ["days_in_stage_amber", "days_in_stage_red"]
        labels = {
            "days_in_stage_amber": "Amber after (days in one stage)",
            "days_in_stage_red": "Red after (days in one stage)",
        }

    def clean(self):
        data = super().clean()
        amber, red = data.get("days_in_stage_amber"), data.get("days_in_stage_red")
        if amber is not None and amber < 1:
            self.add_error("days_in_stage_amber", "At least 1 day.")
        if amber is not None and red is not None and red <= amber:
            self.add_error("days_in_stage_red", "Must be more days than amber.")
        return data
