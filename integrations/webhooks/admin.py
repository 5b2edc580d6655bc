"""Admin of the webhooks: endpoints (never their secrets) and messages with attempts."""

from django.contrib import admin

from ..delivery.models import Attempt
from .models import WebhookEndpoint, WebhookMessage
from .services import NotResendable, webhook_message_resend


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "shop", "enabled", "disabled_reason", "created_at"]
    list_filter = ["enabled", "shop"]
    # The secret is made by the API or the settings page, which show it once;
    # its encryption is useless to a reader.
    fields = [
        "shop", "url", "events", "description", "enabled", "disabled_reason", "disabled_at",
        "failing_since", "previous_secret_until", "created_at",
    ]  # fmt: skip
    readonly_fields = [
        "disabled_reason",
        "disabled_at",
        "failing_since",
        "previous_secret_until",
        "created_at",
    ]

    def has_add_permission(self, request):
        return False


class MessageAttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    fields = readonly_fields = ["attempted_at", "http_status", "duration_ms", "error", "response_excerpt"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookMessage)
class WebhookMessageAdmin(admin.ModelAdmin):
    list_display = [
        "public_id",
        "event_type",
        "endpoint",
        "repair_order",
        "state",
        "attempt_count",
        "created_at",
    ]
    list_filter = ["state", "event_type"]
    search_fields = ["public_id", "repair_order__repair_number"]
    readonly_fields = [f.name for f in WebhookMessage._meta.fields]
    inlines = [MessageAttemptInline]
    actions = ["resend"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Re-send selected messages")
    def resend(self, request, queryset):
        sent, refused = 0, 0
        for message in queryset:
            try:
                webhook_message_resend(message_id=message.id)
                sent += 1
            except NotResendable:
                refused += 1
        self.message_user(
            request, f"Queued {sent} message(s) again; {refused} could not be (pending or disabled)."
        )
