"""The flow page (SPEC §8) and the CSV of its delivered ROs. Thin: the figures come from repairs.flow."""

import csv
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET

from . import selectors
from .flow import (
    DEFAULT_PERIOD_DAYS,
    FlowPeriod,
    flow_answer,
    flow_cycle_points,
    flow_delivered_rows,
    flow_deliveries,
    flow_stages_and_wip,
)
from .flow_summaries import ARRIVED_POSITION, DELIVERED_POSITION
from .forms import FlowPeriodForm
from .models import Membership
from .permissions import shop_member_required

FLOW_TEMPLATE = "repairs/flow.html"
DAY_SECONDS = 86400
CSV_HEADER = [
    "repair_number", "vehicle", "insurer", "arrived_at", "delivered_at", "cycle_time_days", "promised", "on_time",
]  # fmt: skip


def _period_form(request, membership: Membership) -> tuple[FlowPeriodForm, FlowPeriod | None]:
    shop = membership.shop
    now = timezone.now()
    form = FlowPeriodForm(request.GET, today=now.astimezone(ZoneInfo(shop.time_zone)).date())
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    return form, FlowPeriod(
        shop_id=shop.id,
        time_zone=shop.time_zone,
        date_from=data["date_from"],
        date_to=data["date_to"],
        now=now,
    )


def _period_invalid(request, membership: Membership, form: FlowPeriodForm):
    """The page with the period picker showing what is wrong, and no figures."""
    context = {
        "shop": membership.shop,
        "membership": membership,
        "form": form,
        "last_days": FlowPeriodForm.LAST_DAYS,
    }
    return render(request, FLOW_TEMPLATE, context, status=422)


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / DAY_SECONDS, 3)


def _chart_data(figures: dict, cars: list[tuple[float, float, str]], stage_names: dict[int, str]) -> dict:
    """What static/flow/flow.js draws: durations in days, dates as the shop's calendar dates."""
    stages = figures["stages"]
    # The bottleneck is the production stage (on the premises, not yet delivered) with the longest median.
    medians = [
        (s["median_seconds"] or 0) if ARRIVED_POSITION <= position < DELIVERED_POSITION else 0
        for position, s in enumerate(stages, start=1)
    ]
    return {
        "time_zone": figures["time_zone"],
        "cycle": {
            # Each delivered car: when (ms since the epoch), its cycle time in days, its RO number.
            "x": [round(x) for x, _, _ in cars],
            "days": [_days(seconds) for _, seconds, _ in cars],
            "ro": [number for _, _, number in cars],
            "median_days": _days(figures["cycle_time_seconds"]["median"]),
        },
        "stages": {
            "labels": [stage_names[s["stage_id"]] for s in stages],
            "median_days": [_days(s["median_seconds"]) for s in stages],
            "p90_days": [_days(s["p90_seconds"]) for s in stages],
            "bottleneck": medians.index(max(medians)) if any(medians) else None,
        },
        "throughput": {
            "labels": [w["week"] for w in figures["throughput"]],
            "delivered": [w["delivered"] for w in figures["throughput"]],
        },
        "wip": {
            "labels": [d["date"] for d in figures["wip"]],
            "series": [
                {
                    "name": stage_names[s["stage_id"]],
                    "counts": [d["stages"][str(s["stage_id"])] for d in figures["wip"]],
                }
                for s in stages
            ],
        },
    }


def _wip_rows(wip: list[dict], stages: list[dict]) -> list[tuple[str, str]]:
    """The day-by-day table's rows: 15 cells a day for up to 400 days, built as one string a row.

    The cells are counts, made int here, so there is nothing to escape: marking them safe skips
    format_html's escaping of 6,000 numbers, the page's largest cost after its queries.
    """
    keys = [str(s["stage_id"]) for s in stages]
    return [
        (d["date"], mark_safe("".join([f"<td>{int(d['stages'][key])}</td>" for key in keys]))) for d in wip
    ]


@gzip_page
@shop_member_required()
@require_GET
def shop_flow(request, *, membership: Membership):
    shop = membership.shop
    form, period = _period_form(request, membership)
    if period is None:
        return _period_invalid(request, membership, form)
    deliveries = flow_deliveries(period)
    figures = flow_answer(period, deliveries, flow_stages_and_wip(period))
    cars = flow_cycle_points(period)
    stage_names = {stage.id: stage.name for stage in selectors.stage_list()}
    stages = [{**s, "name": stage_names[s["stage_id"]]} for s in figures["stages"]]
    chart = _chart_data(figures, cars, stage_names)
    bottleneck = chart["stages"]["bottleneck"]
    query = urlencode({"from": period.date_from.isoformat(), "to": period.date_to.isoformat()})
    context = {
        "shop": shop,
        "membership": membership,
        "form": form,
        "last_days": FlowPeriodForm.LAST_DAYS,
        "period": period,
        "figures": figures,
        "stages": stages,
        "bottleneck_id": stages[bottleneck]["stage_id"] if bottleneck is not None else None,
        "cycle_weeks": deliveries["cycle_weeks"],
        "wip_stages": stages,
        "wip_rows": _wip_rows(figures["wip"], stages),
        "chart": chart,
        "csv_url": reverse("shop_flow_csv", kwargs={"shop_id": shop.id}) + "?" + query,
        "selected_days": None
        if form.cleaned_data["custom"]
        else (form.cleaned_data["days"] or DEFAULT_PERIOD_DAYS),
    }
    return render(request, FLOW_TEMPLATE, context)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_cell(value) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet (CSV injection).
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    return "" if value is None else value.astimezone(zone).isoformat(timespec="minutes")


def _csv_lines(period: FlowPeriod) -> Iterator[str]:
    writer = csv.writer(_Echo())
    zone = ZoneInfo(period.time_zone)
    yield writer.writerow(CSV_HEADER)
    for car in flow_delivered_rows(period):
        yield writer.writerow([
            _csv_cell(car.repair_number), _csv_cell(car.vehicle), _csv_cell(car.insurer),
            _local(car.arrived_at, zone), _local(car.delivered_at, zone),
            "" if car.cycle_seconds is None else f"{car.cycle_seconds / DAY_SECONDS:.2f}",
            _local(car.promised, zone), "" if car.on_time is None else ("yes" if car.on_time else "no"),
        ])  # fmt: skip


@shop_member_required()
@require_GET
def shop_flow_csv(request, *, membership: Membership):
    """The period's delivered ROs, one line each, streamed as they are read."""
    form, period = _period_form(request, membership)
    if period is None:
        return _period_invalid(request, membership, form)
    response = StreamingHttpResponse(_csv_lines(period), content_type="text/csv; charset=utf-8")
    filename = f"shop-{period.shop_id}-delivered-{period.date_from}-to-{period.date_to}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
