"""Reads shared by the board and the API. Each returns a QuerySet."""

from django.db.models import QuerySet

from .models import Membership, RepairOrder, Shop, Stage


def stage_list() -> QuerySet[Stage]:
    return Stage.objects.order_by("position")


def shops_for_user(*, user) -> QuerySet[Shop]:
    if not user.is_authenticated:
        return Shop.objects.none()
    return Shop.objects.filter(memberships__user=user).order_by("name", "id")


def membership_get(*, user, shop_id: int) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.select_related("shop").filter(user=user, shop_id=shop_id).first()


def repair_orders_of_shop(*, shop_id: int) -> QuerySet[RepairOrder]:
    return RepairOrder.objects.filter(shop_id=shop_id).select_related("stage")
