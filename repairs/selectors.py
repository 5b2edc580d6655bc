"""Reads shared by the board and the API. Each returns a QuerySet."""

from collections.abc import Collection
from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet
from django.db.models.functions import Lower

from .models import Membership, RepairOrder, RepairTeamMember, Shop, Stage


def stage_list() -> QuerySet[Stage]:
    return Stage.objects.order_by("position")


def shop_list(*, shop_ids: Collection[int]) -> QuerySet[Shop]:
    return Shop.objects.filter(pk__in=shop_ids).order_by("id")


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


def _with_team(queryset: QuerySet[RepairOrder]) -> QuerySet[RepairOrder]:
    return queryset.select_related("stage").prefetch_related(
        Prefetch("team_links", queryset=RepairTeamMember.objects.select_related("person").order_by("position", "id"))
    )


def repair_order_page(
    *,
    shop_id: int,
    limit: int,
    after: tuple[datetime, int] | None = None,
    stage_id: int | None = None,
    status: str | None = None,
    updated_since: datetime | None = None,
) -> QuerySet[RepairOrder]:
    """One page of a shop's ROs in (updated_at, id) order, after a keyset position.

    Keyset, not offset: rows inserted while a client pages land after its
    position and never shift a page. An RO changed meanwhile moves to the
    end and is seen again with its new data, never skipped. Ask for one row
    more than a page to learn whether another page follows.
    """
    queryset = RepairOrder.objects.filter(shop_id=shop_id)
    if stage_id is not None:
        queryset = queryset.filter(stage_id=stage_id)
    if status is not None:
        # Case-insensitive like the board; Lower() matches the status index.
        queryset = queryset.alias(status_lower=Lower("status")).filter(status_lower=status.lower())
    if updated_since is not None:
        queryset = queryset.filter(updated_at__gte=updated_since)
    if after is not None:
        after_updated_at, after_id = after
        queryset = queryset.filter(
            Q(updated_at__gt=after_updated_at) | Q(updated_at=after_updated_at, id__gt=after_id)
        )
    return _with_team(queryset.order_by("updated_at", "id"))[:limit]


def repair_order_by_number(*, shop_id: int, repair_number: str) -> QuerySet[RepairOrder]:
    return _with_team(RepairOrder.objects.filter(shop_id=shop_id, repair_number=repair_number))
