from django.contrib import admin

from .live import boards_changed
from .models import Membership, Person, RepairOrder, RepairTeamMember, Shop, Stage, StageChange


class BoardRedrawAdmin(admin.ModelAdmin):
    """An edit in the admin changes what boards show in ways no card delta carries (an
    RO or a person deleted, a shop's thresholds): open boards of the shop load the whole
    board once (repairs.live `redraw`). Each admin write runs in one transaction."""

    shop_field = "shop_id"

    def _boards_redraw(self, shop_ids) -> None:
        # Shops still there: a deleted shop has no board.
        shops = Shop.objects.filter(pk__in=set(shop_ids)).values_list("id", flat=True)
        boards_changed(changes={shop_id: [] for shop_id in shops}, redraw=True)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self._boards_redraw([getattr(obj, self.shop_field)])

    def delete_model(self, request, obj):
        shop_id = getattr(obj, self.shop_field)
        super().delete_model(request, obj)
        self._boards_redraw([shop_id])

    def delete_queryset(self, request, queryset):
        shop_ids = list(queryset.values_list(self.shop_field, flat=True))
        super().delete_queryset(request, queryset)
        self._boards_redraw(shop_ids)


@admin.register(Shop)
class ShopAdmin(BoardRedrawAdmin):
    shop_field = "id"
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
class PersonAdmin(BoardRedrawAdmin):
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
class RepairOrderAdmin(BoardRedrawAdmin):
    list_display = ["repair_number", "shop", "stage", "status", "obs_event_id", "version", "updated_at"]
    list_filter = ["shop", "stage", "status"]
    search_fields = ["repair_number", "obs_event_id", "customer_last_name", "vehicle_vin"]
    # Stage changes go through repairs.services.repair_order_move only, so the
    # history, the version and the OBS outbox stay right.
    readonly_fields = ["stage", "stage_entered_at", "version", "board_version", "created_at", "updated_at"]
    inlines = [RepairTeamMemberInline, StageChangeInline]


@admin.register(StageChange)
class StageChangeAdmin(admin.ModelAdmin):
    list_display = ["repair_order", "from_stage", "to_stage", "changed_at", "changed_by", "source"]
    list_filter = ["source", "to_stage"]
    raw_id_fields = ["repair_order"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "shop", "role"]
    list_filter = ["role", "shop"]
