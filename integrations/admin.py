from django.contrib import admin, messages
from django.utils import timezone

from .models import (
    ApiKey,
    BeaconTag,
    BeaconZone,
    DeliveryAttempt,
    Notification,
    ObsSettings,
    ObsStatusMapping,
)
from .obs.services import NotResendable, notification_resend


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    # The hash is useless to a reader and the raw key is never stored: keys
    # are made with `manage.py create_api_key`, which prints it once.
    fields = ["name", "prefix", "shops", "rate_limit_per_minute", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    filter_horizontal = ["shops"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} key(s).")


@admin.register(ObsSettings)
class ObsSettingsAdmin(admin.ModelAdmin):
    list_display = ["shop", "enabled", "update_url"]


@admin.register(ObsStatusMapping)
class ObsStatusMappingAdmin(admin.ModelAdmin):
    list_display = ["shop", "stage", "obs_status"]
    list_filter = ["shop"]


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    readonly_fields = ["attempted_at", "http_status", "message", "duration_ms"]
    can_delete = False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = [
        "repair_order",
        "obs_event_id",
        "stage",
        "state",
        "attempt_count",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["state"]
    raw_id_fields = ["repair_order", "stage_change"]
    inlines = [DeliveryAttemptInline]
    actions = ["resend"]

    @admin.action(description="Re-send selected notifications")
    def resend(self, request, queryset):
        # Through the same service as the board's button: only an RO's newest
        # notification can go out again (an older one would put OBS back).
        sent, refused = 0, []
        for notification in queryset.order_by("id"):
            try:
                notification_resend(notification_id=notification.id)
                sent += 1
            except NotResendable as exc:
                refused.append(f"#{notification.id}: {exc}")
        if sent:
            self.message_user(request, f"Queued {sent} notification(s) again.")
        if refused:
            self.message_user(request, "Not re-sent: " + " ".join(refused), level=messages.WARNING)


@admin.register(BeaconZone)
class BeaconZoneAdmin(admin.ModelAdmin):
    list_display = ["shop", "zone_id", "stage"]
    list_filter = ["shop"]


@admin.register(BeaconTag)
class BeaconTagAdmin(admin.ModelAdmin):
    list_display = ["shop", "beacon_id", "repair_order", "paired_at"]
    list_filter = ["shop"]
    raw_id_fields = ["repair_order"]
