"""The flow page (SPEC §8) and the CSV of its delivered ROs. Thin: the figures come from repairs.flow."""

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET

from .flow import (
    DEFAULT_PERIOD_DAYS,
    CyclePoints,
    FlowPeriod,
    flow_answer,
    flow_cycle_arrays,
    flow_delivered_rows,
    flow_deliveries,
    flow_stages_and_wip,
    flow_statements,
)
from .flow_summaries import ARRIVED_POSITION, DELIVERED_POSITION
from .forms import FlowPeriodForm
from .models import Membership
from .permissions import shop_member_required
from .stages import STAGES
from .templatetags.flow_tags import duration

FLOW_TEMPLATE = "repairs/flow.html"
STAGE_NAMES = {stage_id: name for _, stage_id, name in STAGES}  # the 15 fixed stages (SPEC §1)
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


def _chart_data(figures: dict, wip: dict, cars: CyclePoints, stage_names: dict[int, str]) -> dict:
    """What static/flow/flow.js draws: durations in days, dates as the shop's calendar dates. `wip` is
    flow_stages_and_wip's answer (its counts as one array per stage, board order)."""
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
            "x": cars.xs,
            "days": [round(seconds / DAY_SECONDS, 3) for seconds in cars.seconds],
            "ro": cars.numbers,
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
            "labels": wip["wip_dates"],
            "series": [
                {"name": stage_names[s["stage_id"]], "counts": counts}
                for s, counts in zip(stages, wip["wip_counts"], strict=True)
            ],
        },
    }


# What django.utils.html.json_script escapes, so the JSON cannot end its <script> element.
_JSON_SCRIPT_ESCAPES = (("&", "\\u0026"), ("<", "\\u003C"), (">", "\\u003E"))


def _json_script(value: dict, element_id: str) -> SafeString:
    """json_script's element, compact: plain values (no DjangoJSONEncoder), no spaces, and three
    str.replace for its escapes (~200 KiB of numbers for a year)."""
    text = json.dumps(value, separators=(",", ":"))
    for char, escaped in _JSON_SCRIPT_ESCAPES:
        text = text.replace(char, escaped)
    return format_html('<script id="{}" type="application/json">{}</script>', element_id, mark_safe(text))


# The tables' bodies, built once as strings rather than by the template engine per cell (the page's
# largest Python cost). Text is escaped; the counts are made int here and durations come from the
# `duration` filter (digits, ".", " d"/" h", "–"), so there is nothing else to escape.


def _cycle_rows(weeks: list[dict]) -> SafeString:
    if not weeks:
        return mark_safe('<tr><td colspan="4">No car was delivered in this period.</td></tr>')
    return mark_safe(
        "\n".join(
            f'<tr><th scope="row">{escape(w["week"])}</th><td>{int(w["delivered"])}</td>'
            f"<td>{duration(w['median_seconds'])}</td><td>{duration(w['p90_seconds'])}</td></tr>"
            for w in weeks
        )
    )


def _stage_rows(stages: list[dict], bottleneck_id: int | None) -> SafeString:
    rows = []
    for s in stages:
        marked = s["stage_id"] == bottleneck_id
        rows.append(
            f'<tr data-stage-id="{int(s["stage_id"])}"{' class="is-bottleneck"' if marked else ""}>'
            f'<th scope="row">{escape(s["name"])}{' <span class="badge">Bottleneck</span>' if marked else ""}</th>'
            f"<td>{int(s['visits'])}</td><td>{duration(s['median_seconds'])}</td><td>{duration(s['p90_seconds'])}</td></tr>"
        )
    return mark_safe("\n".join(rows))


def _throughput_rows(weeks: list[dict]) -> SafeString:
    return mark_safe(
        "\n".join(
            f'<tr><th scope="row">{escape(w["week"])}</th><td>{int(w["delivered"])}</td></tr>' for w in weeks
        )
    )


def _wip_rows(dates: list[str], counts_by_stage: list[list[int]]) -> SafeString:
    """The day-by-day table: 15 cells a day for up to 400 days."""
    return mark_safe(
        "\n".join(
            f'<tr><th scope="row">{escape(day)}</th>{"".join([f"<td>{int(n)}</td>" for n in counts])}</tr>'
            for day, counts in zip(dates, zip(*counts_by_stage, strict=True), strict=True)
        )
    )


@gzip_page
@shop_member_required()
@require_GET
def shop_flow(request, *, membership: Membership):
    shop = membership.shop
    form, period = _period_form(request, membership)
    if period is None:
        return _period_invalid(request, membership, form)
    with flow_statements():
        deliveries = flow_deliveries(period)
        wip = flow_stages_and_wip(period)
        cars = flow_cycle_arrays(period)
    figures = flow_answer(period, deliveries, wip)
    stage_names = STAGE_NAMES
    stages = [{**s, "name": stage_names[s["stage_id"]]} for s in figures["stages"]]
    chart = _chart_data(figures, wip, cars, stage_names)
    bottleneck = chart["stages"]["bottleneck"]
    bottleneck_id = stages[bottleneck]["stage_id"] if bottleneck is not None else None
    query = urlencode({"from": period.date_from.isoformat(), "to": period.date_to.isoformat()})
    context = {
        "shop": shop,
        "membership": membership,
        "form": form,
        "last_days": FlowPeriodForm.LAST_DAYS,
        "period": period,
        "figures": figures,
        "chart_script": _json_script(chart, "flow-chart-data"),
        "cycle_rows": _cycle_rows(deliveries["cycle_weeks"]),
        "stage_rows": _stage_rows(stages, bottleneck_id),
        "throughput_rows": _throughput_rows(figures["throughput"]),
        "wip_stages": stages,
        "wip_days": len(wip["wip_dates"]),
        "wip_rows": _wip_rows(wip["wip_dates"], wip["wip_counts"]),
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
