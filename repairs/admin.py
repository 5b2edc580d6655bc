from django.contrib import admin

from .flow_summaries import FLOW_SUMMARY_FIELDS, flow_summaries_refresh
from .models import Membership, Person, RepairOrder, RepairTeamMember, Shop, Stage, StageChange


@admin.register(Shop)
class ShopAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "days_in_stage_amber", "days_in_stage_red", "created_at"]
    search_fields = ["name"]


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin):
    list_display = ["position", "id", "name"]

    # The 15 stages are a contract (SPEC §1): visible, not editable.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["external_id", "first_name", "last_name", "title", "shop"]
    list_filter = ["shop"]
    search_fields = ["external_id", "first_name", "last_name"]


class RepairTeamMemberInline(admin.TabularInline):
    model = RepairTeamMember
    extra = 0
    raw_id_fields = ["person"]


class StageChangeInline(admin.TabularInline):
    model = StageChange
    extra = 0
    fields = ["changed_at", "from_stage", "to_stage", "changed_by", "source"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(RepairOrder)
class RepairOrderAdmin(admin.ModelAdmin):
    list_display = ["repair_number", "shop", "stage", "status", "obs_event_id", "version", "updated_at"]
    list_filter = ["shop", "stage", "status"]
    search_fields = ["repair_number", "obs_event_id", "customer_last_name", "vehicle_vin"]
    # Stage changes go through repairs.services.repair_order_move only, so the
    # history, the version and the OBS outbox stay right.
    readonly_fields = ["stage", "stage_entered_at", "version", "created_at", "updated_at"]
    inlines = [RepairTeamMemberInline, StageChangeInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # A delivered RO's flow summary copies its number and promised delivery.
        if FLOW_SUMMARY_FIELDS & set(form.changed_data):
            flow_summaries_refresh(repair_order_ids=[obj.pk])


@admin.register(StageChange)
class StageChangeAdmin(admin.ModelAdmin):
    list_display = ["repair_order", "from_stage", "to_stage", "changed_at", "changed_by", "source"]
    list_filter = ["source", "to_stage"]
    raw_id_fields = ["repair_order"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "shop", "role"]
    list_filter = ["role", "shop"]
