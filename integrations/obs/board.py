"""What the board shows of OBS, through repairs.board_hooks (repairs never
imports integrations): a card's delivery problem, and a change token so an
open board refreshes when a delivery fails or recovers."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Case, CharField, F, Max, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Concat, NullIf
from django.utils import timezone

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
