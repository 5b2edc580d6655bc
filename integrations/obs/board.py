"""What the board shows of OBS, through repairs.board_hooks (repairs never
imports integrations): a card's delivery problem, and a change token so an
open board refreshes when a delivery fails or recovers; `board_badge_watch`
tells open boards (repairs.live) when a write makes a card's problem appear or clear."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db.models import Case, CharField, F, Max, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Concat, NullIf
from django.utils import timezone

from repairs.live import board_changed
from repairs.models import RepairOrder

from ..models import Notification


def card_obs_problem(queryset):
    """Annotate `obs_problem`: the newest notification failed, or is pending
    for too long. A subquery of the board's one RO query: no extra query."""
    pending_since = timezone.now() - timedelta(seconds=settings.OBS_PENDING_WARNING_SECONDS)

    def said(default: str):
        return Coalesce(NullIf(F("last_error"), Value("")), Value(default), output_field=CharField())

    problem = (
        Notification.objects.filter(repair_order_id=OuterRef("pk"))
        .order_by("-id")
        .annotate(
            problem=Case(
                When(
                    state=Notification.State.FAILED,
                    then=Concat(Value("OBS update failed: "), said("no message"), output_field=CharField()),
                ),
                When(
                    Q(state=Notification.State.PENDING, created_at__lt=pending_since),
                    then=Concat(
                        Value("OBS update pending: "), said("not sent yet"), output_field=CharField()
                    ),
                ),
                default=Value(None),
                output_field=CharField(),
            )
        )
        .values("problem")[:1]
    )
    return queryset.annotate(obs_problem=Subquery(problem, output_field=CharField()))


def shop_obs_change():
    """Changes whenever any notification of the shop changes state."""
    return Subquery(
        Notification.objects.filter(repair_order__shop_id=OuterRef("pk"))
        .order_by()
        .values("repair_order__shop_id")
        .annotate(last=Max("updated_at"))
        .values("last")[:1]
    )


def _card_problem(repair_order_id: int) -> tuple[int, str | None] | None:
    return (
        card_obs_problem(RepairOrder.objects.filter(pk=repair_order_id))
        .values_list("shop_id", "obs_problem")
        .first()
    )


@contextmanager
def board_badge_watch(repair_order_id: int) -> Iterator[None]:
    """Around a notification write, inside its transaction: when the RO's card problem
    reads differently after it (a failure shows, a delivery clears it), the card changes
    on open boards. Two small reads, so a delivery that changes no badge redraws no card.
    A problem that appears by time alone (pending too long) shows at the board's
    periodic whole-board refresh (docs/board.md)."""
    before = _card_problem(repair_order_id)
    yield
    after = _card_problem(repair_order_id)
    if after is not None and after != before:
        board_changed(shop_id=after[0], repair_order_ids=[repair_order_id])


def _cards_problems(repair_order_ids: list[int]) -> dict[int, tuple[int, str | None]]:
    rows = card_obs_problem(RepairOrder.objects.filter(pk__in=repair_order_ids)).values_list(
        "id", "shop_id", "obs_problem"
    )
    return {ro_id: (shop_id, problem) for ro_id, shop_id, problem in rows}


@contextmanager
def board_badges_watch(repair_order_ids: list[int]) -> Iterator[None]:
    """board_badge_watch for many ROs at once (the batched delivery's record):
    two reads whatever their number; each shop's boards are told once."""
    if not repair_order_ids:
        yield
        return
    before = _cards_problems(repair_order_ids)
    yield
    after = _cards_problems(repair_order_ids)
    changed: dict[int, list[int]] = {}
    for ro_id, (shop_id, problem) in after.items():
        if before.get(ro_id) != (shop_id, problem):
            changed.setdefault(shop_id, []).append(ro_id)
    for shop_id, ro_ids in changed.items():
        board_changed(shop_id=shop_id, repair_order_ids=ro_ids)
