"""The settings page's endpoint form; the service checks the rules (services.url_check)."""

from django import forms

from .events import SUBSCRIBABLE, EventType

EVENT_CHOICES = [(EventType.ALL.value, "Every event")] + [(e.value, e.value) for e in SUBSCRIBABLE]


class EndpointForm(forms.Form):
    url = forms.CharField(max_length=2000, label="URL")
    events = forms.MultipleChoiceField(
        choices=EVENT_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        label="Events",
        initial=[EventType.ALL.value],
    )
    description = forms.CharField(max_length=200, required=False, label="Description")
