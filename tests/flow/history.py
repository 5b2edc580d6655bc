"""Hand-built stage histories for the flow tests: times are written in the shop's zone."""

from datetime import datetime
from zoneinfo import ZoneInfo

from repairs.flow_summaries import flow_summaries_refresh
from repairs.models import RepairOrder, Shop, StageChange
from tests import factories


def local(shop: Shop, text: str) -> datetime:
    """'2026-04-01 08:00' in the shop's time zone, as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(shop.time_zone))


def make_history(
    shop: Shop, steps: list[tuple[int, str]], *, promised: str | None = None, **fields
) -> RepairOrder:
    """An RO created in steps[0] (stage 1) and moved through the rest, each (stage_id, local time)."""
    assert steps[0][0] == 1, "an RO is created in stage 1"
    times = [local(shop, at) for _, at in steps]
    ro = factories.make_repair_order(
        shop=shop,
        stage_id=steps[-1][0],
        stage_entered_at=times[-1],
        scheduled_delivery=local(shop, promised) if promised else None,
        **fields,
    )
    previous = None
    for (stage_id, _), at in zip(steps, times, strict=True):
        StageChange.objects.create(
            repair_order=ro,
            from_stage_id=previous,
            to_stage_id=stage_id,
            changed_at=at,
            source=StageChange.Source.BOARD,
        )
        previous = stage_id
    # As the services leave it: the row last written with the last change, the summaries refreshed.
    RepairOrder.objects.filter(pk=ro.pk).update(updated_at=times[-1])
    flow_summaries_refresh(repair_order_ids=[ro.pk])
    return ro
