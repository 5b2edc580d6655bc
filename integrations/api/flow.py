"""Flow analytics (SPEC §8) and an RO's stage history (SPEC §4)."""

import re
from datetime import date
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router
from pydantic import BaseModel, ConfigDict, Field

from repairs.flow import (
    FlowPeriod,
    PeriodInvalid,
    flow_default_dates,
    flow_figures,
    flow_period_check,
    repair_order_ids_by_number,
    repair_order_stage_changes,
)
from repairs.selectors import shop_list

from .auth import api_key_auth
from .problems import ApiProblem, ErrorItem
from .reads import repair_order_require, shop_require
from .render import json_response
from .schemas import ProblemOut, UtcDatetime

router = Router(tags=["Flow"], auth=api_key_auth)

_PROBLEMS = {401: ProblemOut, 404: ProblemOut, 422: ProblemOut, 429: ProblemOut, 500: ProblemOut}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class StageChangeOut(BaseModel):
    from_stage_id: int | None = Field(description="null for the RO's creation (in stage 1).")
    to_stage_id: int
    changed_at: UtcDatetime
    source: str = Field(description='"api" (the RO\'s creation by the batch API), "board" or "beacon".')
    changed_by: str | None = Field(description="Username of the board user who moved it, else null.")


@router.get(
    "/shops/{shop_id}/repair-orders/{anytext:repair_number}/stage-changes",
    response={200: list[StageChangeOut], **_PROBLEMS},
    summary="Get a repair order's stage history",
)
def repair_order_stage_changes_get(request: HttpRequest, shop_id: int, repair_number: str) -> HttpResponse:
    """Oldest first; the RO's creation in stage 1 is the first entry."""
    shop_require(request, shop_id)
    ro_id = repair_order_require(repair_order_ids_by_number, shop_id=shop_id, repair_number=repair_number)
    changes = [
        StageChangeOut(
            from_stage_id=change.from_stage_id,
            to_stage_id=change.to_stage_id,
            changed_at=change.changed_at,
            source=change.source,
            changed_by=change.changed_by.get_username() if change.changed_by else None,
        ).model_dump(mode="json")
        for change in repair_order_stage_changes(repair_order_id=ro_id)
    ]
    return json_response(changes)


class FlowQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    date_from: str | None = Field(
        None,
        alias="from",
        description="First day, YYYY-MM-DD in the shop's time zone; default 29 days before `to`.",
    )
    date_to: str | None = Field(
        None, alias="to", description="Last day (included), YYYY-MM-DD; default today."
    )


class CycleTimeOut(BaseModel):
    median: float | None
    p90: float | None
    mean: float | None


class OnTimeOut(BaseModel):
    promised: int = Field(description="Delivered ROs that had a scheduled_delivery.")
    on_time: int = Field(description="Of those, delivered at or before it.")
    rate: float | None


class StageTimeOut(BaseModel):
    stage_id: int
    visits: int = Field(description="Visits to the stage that ended in the period.")
    median_seconds: float | None
    p90_seconds: float | None


class WeekOut(BaseModel):
    week: str = Field(description="ISO week, e.g. 2026-W45.")
    delivered: int


class WipDayOut(BaseModel):
    date: date
    stages: dict[str, int] = Field(description="ROs in each stage (all 15 stage ids) at the end of the day.")


class FlowOut(BaseModel):
    shop_id: int
    from_: date = Field(alias="from")
    to: date
    time_zone: str
    delivered: int
    cycle_time_seconds: CycleTimeOut
    on_time: OnTimeOut
    stages: list[StageTimeOut]
    throughput: list[WeekOut]
    wip: list[WipDayOut]


@router.get(
    "/shops/{shop_id}/flow", response={200: FlowOut, **_PROBLEMS}, summary="Get a shop's flow figures"
)
def shop_flow_get(request: HttpRequest, shop_id: int, query: Query[FlowQuery]) -> HttpResponse:
    """Cycle time, on-time delivery, time per stage, throughput per week and work in progress per day
    (SPEC §8 has the exact definitions). Durations are seconds; days are the shop's."""
    shop_require(request, shop_id)
    shop = shop_list(shop_ids=[shop_id]).only("id", "time_zone").get()
    period = flow_period_from(
        shop_id=shop.id, time_zone=shop.time_zone, date_from=query.date_from, date_to=query.date_to
    )
    return json_response(flow_figures(period))


def flow_period_from(
    *, shop_id: int, time_zone: str, date_from: str | None, date_to: str | None
) -> FlowPeriod:
    """The period a request asks for, or ApiProblem 422 naming the parameter."""
    now = timezone.now()
    if date_to is None:
        parsed_to = now.astimezone(ZoneInfo(time_zone)).date()
    else:
        parsed_to = _date_parse("to", date_to)
    parsed_from = (
        flow_default_dates(today=parsed_to)[0] if date_from is None else _date_parse("from", date_from)
    )
    try:
        flow_period_check(date_from=parsed_from, date_to=parsed_to)
    except PeriodInvalid as invalid:
        raise ApiProblem(
            422, [ErrorItem("validation_error", str(invalid), parameter=invalid.field)]
        ) from None
    return FlowPeriod(shop_id=shop_id, time_zone=time_zone, date_from=parsed_from, date_to=parsed_to, now=now)


def _date_parse(parameter: str, value: str) -> date:
    try:
        if _DATE.match(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise ApiProblem(
        422,
        [
            ErrorItem(
                "validation_error",
                f"{parameter} must be a real date as YYYY-MM-DD, not {value[:40]!r}.",
                parameter=parameter,
            )
        ],
    )
