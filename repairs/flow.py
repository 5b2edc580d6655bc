"""Flow analytics (SPEC §8): cycle time, time per stage, throughput, work in progress.

Every figure is one SQL statement computed in PostgreSQL (percentile_cont, window sums); nothing
loads a history into Python. The definitions, exactly as SPEC §8 words them:

- a *visit* runs from the change that put an RO in a stage to its next change
  (LEAD over the RO's changes in (changed_at, id) order), or to now;
- *arrived at* is the start of the RO's first visit to a stage at position ≥ 2;
- *delivered at*, for an RO now at position ≥ 14, is the last change from a
  stage at position < 14 to one at position ≥ 14;
- a day is [00:00, next 00:00) in the shop's time zone; a period is its days,
  both ends included; weeks are ISO weeks (Monday to Sunday) in that zone.

The statements read the flow summaries (repairs/flow_summaries.py: one row per visit, one per
delivered RO, kept by the writers of the stage history), a period of one shop by one index range
each: the cost follows the period's activity, not the length of the shop's history. The same
figures computed from the history itself (LEAD over each RO's changes) are repairs/flow_live.py,
the reference the summaries are tested against (tests/flow/test_flow_summaries.py).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import QuerySet

from .flow_summaries import ARRIVED_IDS, DELIVERED_IDS, PRODUCTION_IDS
from .models import RepairOrder, StageChange
from .stages import STAGES

MAX_PERIOD_DAYS = 400
DEFAULT_PERIOD_DAYS = 30
STAGE_IDS_IN_BOARD_ORDER = [stage_id for _, stage_id, _ in STAGES]


@dataclass(frozen=True)
class FlowPeriod:
    """A shop's days `date_from`..`date_to` (inclusive) in its zone, seen at `now`."""

    shop_id: int
    time_zone: str
    date_from: date
    date_to: date
    now: datetime

    @property
    def params(self) -> dict:
        return {
            "shop": self.shop_id,
            "tz": self.time_zone,
            "from": self.date_from,
            "to": self.date_to,
            "now": self.now,
            "stage_ids": STAGE_IDS_IN_BOARD_ORDER,
            "arrived_ids": ARRIVED_IDS,
            "delivered_ids": DELIVERED_IDS,
            "production_ids": PRODUCTION_IDS,
        }


class PeriodInvalid(ValueError):
    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def flow_period_check(*, date_from: date, date_to: date) -> None:
    """Raises PeriodInvalid (naming the field) for `from` after `to` or more than 400 days."""
    if date_from > date_to:
        raise PeriodInvalid("from", f"from ({date_from}) is after to ({date_to}).")
    if (date_to - date_from).days + 1 > MAX_PERIOD_DAYS:
        raise PeriodInvalid(
            "to",
            f"A period is at most {MAX_PERIOD_DAYS} days; this one has {(date_to - date_from).days + 1}.",
        )


def flow_default_dates(*, today: date) -> tuple[date, date]:
    """The last 30 days, today included (SPEC §8 default)."""
    return today - timedelta(days=DEFAULT_PERIOD_DAYS - 1), today


# ---- SQL building blocks (repairs/flow_live.py builds on them too) ---------------------------------------

PERIOD_START = "(%(from)s::date::timestamp AT TIME ZONE %(tz)s)"
PERIOD_END = "((%(to)s::date + 1)::timestamp AT TIME ZONE %(tz)s)"
WEEKS_START = "(date_trunc('week', %(from)s::date::timestamp) AT TIME ZONE %(tz)s)"
WEEKS_END = "((date_trunc('week', %(to)s::date::timestamp) + interval '1 week') AT TIME ZONE %(tz)s)"

# Where each day of the period begins, in the shop's zone. width_bucket (a binary search) numbers an
# instant by the day it falls on: 1 … N, and 0 before the period.
DAY_STARTS = """
    day_starts AS MATERIALIZED (
        SELECT array_agg(day::timestamp AT TIME ZONE %(tz)s ORDER BY day) AS starts
        FROM generate_series(%(from)s::date::timestamp, %(to)s::date::timestamp, interval '1 day') AS day
    )"""

# The delivery figures from `cars` (delivered_at, scheduled_delivery, cycle_seconds, week, in_period):
# one row per week of delivery and one (week NULL) for the whole period.
DELIVERY_FIGURES_SELECT = """
    SELECT week, count(*), count(*) FILTER (WHERE in_period),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY cycle_seconds) FILTER (WHERE in_period),
           percentile_cont(0.9) WITHIN GROUP (ORDER BY cycle_seconds) FILTER (WHERE in_period),
           avg(cycle_seconds) FILTER (WHERE in_period),
           count(scheduled_delivery) FILTER (WHERE in_period),
           count(*) FILTER (WHERE in_period AND delivered_at <= scheduled_delivery)
    FROM cars GROUP BY GROUPING SETS ((), (week))"""

# `s`: the 15 stages in board order (id, position).
STAGES_CTE = "s AS (SELECT * FROM unnest(%(stage_ids)s::int[]) WITH ORDINALITY AS s(id, position))"


# Each stage's ROs at the end of each day of the period, as one array (day 1 … N) from `deltas`, a
# subquery of (day, delta) rows of the stage `s.id` (ROs in minus ROs out that day; day 0: everything
# before the period; several rows of a day add up): a running sum over the dense days 0 … N.
def wip_counts(deltas: str) -> str:
    return f"""(
        SELECT array_agg(running.n ORDER BY running.day) FILTER (WHERE running.day > 0) FROM (
            SELECT days.day, (sum(coalesce(d.delta, 0)) OVER (ORDER BY days.day))::int AS n
            FROM generate_series(0, %(to)s::date - %(from)s::date + 1) AS days(day)
            LEFT JOIN (SELECT day, sum(delta) AS delta FROM ({deltas}) AS deltas GROUP BY day) AS d
                ON d.day = days.day
        ) AS running
    )"""


# `stages` and `wip` from `s`, `ended` (stage_id, n, median, p90: the visits that ended in the period)
# and `wip` (stage_id, counts: wip_counts' array): one row per stage, in board order.
STAGES_AND_WIP_SELECT = """
    SELECT s.id, coalesce(ended.n, 0), extract(epoch FROM ended.median)::float8,
           extract(epoch FROM ended.p90)::float8, wip.counts
    FROM s LEFT JOIN ended ON ended.stage_id = s.id JOIN wip ON wip.stage_id = s.id
    ORDER BY s.position"""

# The period's delivered ROs from `period` (the RO's columns, delivered_at, arrived_at, cycle_seconds).
DELIVERED_ROWS_SELECT = """
    SELECT repair_number,
           concat_ws(' ', vehicle_year::text, vehicle_make, vehicle_model),
           insurance_name, arrived_at, delivered_at, cycle_seconds, scheduled_delivery
    FROM period ORDER BY delivered_at, repair_number"""


# Settings for the statement's transaction only, in one round trip:
# - PostgreSQL may price a statement over thousands of rows high enough to JIT-compile it, which then
#   costs seconds on a busy machine for a query that runs in tens of ms;
# - a year of one shop is ~100,000 visits whose lengths are sorted per stage (the percentiles): with
#   the default 4 MB of work_mem that sort spills to disk; 32 MB keeps it in memory.
_STATEMENT_SETTINGS = "SELECT set_config('jit', 'off', true), set_config('work_mem', '32MB', true)"


_settings_set: ContextVar[bool] = ContextVar("flow_statement_settings_set", default=False)


@contextmanager
def flow_statements() -> Iterator[None]:
    """One transaction with the statements' settings for the flow statements run inside it (the API's
    two, the page's three): one settings round trip, not one per statement."""
    if _settings_set.get():
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_STATEMENT_SETTINGS)
        token = _settings_set.set(True)
        try:
            yield
        finally:
            _settings_set.reset(token)


def fetch(sql: str, period: FlowPeriod) -> list[tuple]:
    with flow_statements(), connection.cursor() as cursor:
        cursor.execute(sql, period.params)
        return cursor.fetchall()


def fetch_chunks(sql: str, period: FlowPeriod, chunk: int) -> Iterator[tuple]:
    # A generator (the CSV streams it): its own transaction, whatever runs between its chunks.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_STATEMENT_SETTINGS)
        cursor.execute(sql, period.params)
        while rows := cursor.fetchmany(chunk):
            yield from rows


def _iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def deliveries_result(rows: list[tuple], period: FlowPeriod) -> dict:
    """DELIVERY_FIGURES_SELECT's rows as flow_deliveries answers them."""
    weeks: dict[date, tuple] = {}
    for week, in_week, delivered, median, p90, mean, promised, on_time in rows:
        if week is None:  # the grouping set (): the whole period
            summary = {
                "delivered": delivered,
                "cycle_time_seconds": {"median": median, "p90": p90, "mean": mean},
                "on_time": {
                    "promised": promised,
                    "on_time": on_time,
                    "rate": on_time / promised if promised else None,
                },
            }
        else:
            weeks[week] = (in_week, delivered, median, p90)
    mondays = []
    monday = period.date_from - timedelta(days=period.date_from.weekday())
    while monday <= period.date_to:
        mondays.append(monday)
        monday += timedelta(days=7)
    return {
        **summary,
        "throughput": [{"week": _iso_week(m), "delivered": weeks.get(m, (0,))[0]} for m in mondays],
        "cycle_weeks": [
            {
                "week": _iso_week(m),
                "delivered": weeks[m][1],
                "median_seconds": weeks[m][2],
                "p90_seconds": weeks[m][3],
            }
            for m in mondays
            if m in weeks and weeks[m][1]
        ],
    }


def stages_and_wip_result(rows: list[tuple], period: FlowPeriod) -> dict:
    """STAGES_AND_WIP_SELECT's rows as flow_stages_and_wip answers them: `stages` and `wip` as SPEC §8
    words them, and `wip_counts`, each stage's counts day by day (board order; the page's table and chart)."""
    stages = [
        {"stage_id": stage_id, "visits": count, "median_seconds": median, "p90_seconds": p90}
        for stage_id, count, median, p90, _ in rows
    ]
    keys = [str(stage_id) for stage_id, *_ in rows]
    wip_counts = [counts for *_, counts in rows]
    days = (period.date_to - period.date_from).days + 1
    dates = [(period.date_from + timedelta(days=day)).isoformat() for day in range(days)]
    return {
        "stages": stages,
        "wip": [
            {"date": day, "stages": dict(zip(keys, counts, strict=True))}
            for day, counts in zip(dates, zip(*wip_counts, strict=True), strict=True)
        ],
        "wip_dates": dates,
        "wip_counts": wip_counts,
    }


# ---- The figures, from the summaries ---------------------------------------------------------------------

# A delivered RO's cycle time; `d` is its FlowDelivery row.
_CYCLE_SECONDS = "extract(epoch FROM d.delivered_at - d.arrived_at)::float8"


def _delivered_between(start: str, end: str) -> str:
    """`d`, the shop's FlowDelivery rows, delivered in [start, end) and by now: one index range."""
    return f"""d.shop_id = %(shop)s AND d.delivered_at >= {start} AND d.delivered_at < {end}
        AND d.delivered_at <= %(now)s"""


def flow_deliveries(period: FlowPeriod) -> dict:
    """The delivery figures in one query: `delivered`, `cycle_time_seconds` and `on_time` of the ROs
    delivered in the period; `throughput`, the deliveries of each ISO week touching the period (whole
    weeks); and `cycle_weeks`, the period's cycle times by week of delivery (the page's table)."""
    sql = f"""WITH cars AS (
        SELECT d.delivered_at, d.scheduled_delivery, {_CYCLE_SECONDS} AS cycle_seconds,
               date_trunc('week', d.delivered_at AT TIME ZONE %(tz)s)::date AS week,
               d.delivered_at >= {PERIOD_START} AND d.delivered_at < {PERIOD_END} AS in_period
        FROM repairs_flowdelivery d WHERE {_delivered_between(WEEKS_START, WEEKS_END)}
    ) {DELIVERY_FIGURES_SELECT}"""
    return deliveries_result(fetch(sql, period), period)


def flow_stages_and_wip(period: FlowPeriod) -> dict:
    """`stages` and `wip` in one query, each stage's visits read on their own (flow_visit_shop_stage_idx,
    so nothing is sorted by stage):

    - the visits that ended in the period (and by now): how many, their median and p90 length;
    - per day, the ROs there at the end of the day (today: now), over the visits open at some time
      in the period (ended since it began, or not ended): each adds one on the day it began (day 0:
      before the period) and takes one away on the day it ended, if it ended in the period and by now;
      a running sum over the days gives the stage's counts, one array per stage.
    """
    deltas = f"""
        SELECT CASE WHEN GROUPING(left_day) = 1 THEN entered_day ELSE left_day END AS day,
               CASE WHEN GROUPING(left_day) = 1 THEN count(*) ELSE -count(*) END AS delta
        FROM (
            SELECT CASE WHEN visits.entered_at < {PERIOD_START} THEN 0
                        ELSE width_bucket(visits.entered_at, (SELECT starts FROM day_starts)) END AS entered_day,
                   CASE WHEN visits.left_at < {PERIOD_END} AND visits.left_at <= %(now)s
                        THEN width_bucket(visits.left_at, (SELECT starts FROM day_starts)) END AS left_day
            FROM (
                SELECT v.entered_at, v.left_at FROM repairs_flowvisit v
                WHERE v.shop_id = %(shop)s AND v.stage_id = s.id AND v.left_at >= {PERIOD_START}
                UNION ALL
                SELECT v.entered_at, NULL FROM repairs_flowvisit v
                WHERE v.shop_id = %(shop)s AND v.stage_id = s.id AND v.left_at IS NULL
            ) AS visits
            WHERE visits.entered_at < {PERIOD_END} AND visits.entered_at <= %(now)s
        ) AS timed
        GROUP BY GROUPING SETS ((entered_day), (left_day))"""
    sql = f"""WITH {DAY_STARTS}, {STAGES_CTE},
    ended AS (
        SELECT s.id AS stage_id, e.n, e.median, e.p90 FROM s CROSS JOIN LATERAL (
            SELECT count(*) AS n,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY v.left_at - v.entered_at) AS median,
                   percentile_cont(0.9) WITHIN GROUP (ORDER BY v.left_at - v.entered_at) AS p90
            FROM repairs_flowvisit v
            WHERE v.shop_id = %(shop)s AND v.stage_id = s.id
              AND v.left_at >= {PERIOD_START} AND v.left_at < {PERIOD_END} AND v.left_at <= %(now)s
        ) AS e
    ),
    -- Per stage, one pass and two groupings (in on the day a visit began, out on the day it ended),
    -- then the running sum over the days.
    wip AS (SELECT s.id AS stage_id, {wip_counts(deltas)} AS counts FROM s)
    {STAGES_AND_WIP_SELECT}"""
    return stages_and_wip_result(fetch(sql, period), period)


@dataclass(frozen=True)
class DeliveredRow:
    repair_number: str
    vehicle: str
    insurer: str | None
    arrived_at: datetime | None
    delivered_at: datetime
    cycle_seconds: float | None
    promised: datetime | None

    @property
    def on_time(self) -> bool | None:
        return None if self.promised is None else self.delivered_at <= self.promised


def flow_delivered_rows(period: FlowPeriod, *, chunk: int = 500) -> Iterator[DeliveredRow]:
    """The period's delivered ROs, in delivery order, read in chunks (the CSV streams them)."""
    sql = f"""WITH period AS (
        SELECT ro.*, d.delivered_at, d.arrived_at, {_CYCLE_SECONDS} AS cycle_seconds
        FROM repairs_flowdelivery d JOIN repairs_repairorder ro ON ro.id = d.repair_order_id
        WHERE {_delivered_between(PERIOD_START, PERIOD_END)}
    ) {DELIVERED_ROWS_SELECT}"""
    for row in fetch_chunks(sql, period, chunk):
        yield DeliveredRow(*row)


@dataclass(frozen=True)
class CyclePoints:
    """The page's cycle chart, one entry per car delivered in the period with a cycle time, in
    delivery order: delivered at (ms since the epoch, whole), cycle seconds, RO number."""

    xs: list[int]
    seconds: list[float]
    numbers: list[str]


def flow_cycle_arrays(period: FlowPeriod) -> CyclePoints:
    """The page's cycle chart as three arrays in one row, so thousands of cars cost no Python object each.

    The cars are sorted once, in a subquery, and the three aggregates read them in that order (one
    Agg over one subquery scan: PostgreSQL keeps the order, and the three arrays are filled by the
    same rows in the same calls, so they stay aligned); an ORDER BY in each aggregate would sort the
    year's ~6,700 cars three times (PostgreSQL 15)."""
    sql = f"""SELECT coalesce(array_agg(cars.x), '{{}}'), coalesce(array_agg(cars.seconds), '{{}}'),
                     coalesce(array_agg(cars.repair_number), '{{}}')
        FROM (
            SELECT round(date_part('epoch', d.delivered_at) * 1000)::bigint AS x, {_CYCLE_SECONDS} AS seconds,
                   d.repair_number
            FROM repairs_flowdelivery d
            WHERE {_delivered_between(PERIOD_START, PERIOD_END)} AND d.arrived_at IS NOT NULL
            ORDER BY d.delivered_at, d.repair_number
        ) AS cars"""
    [(xs, seconds, numbers)] = fetch(sql, period)
    return CyclePoints(xs, seconds, numbers)


def flow_cycle_points(period: FlowPeriod) -> list[tuple[int, float, str]]:
    """flow_cycle_arrays as (delivered at in ms, cycle seconds, RO number), one tuple per car."""
    points = flow_cycle_arrays(period)
    return list(zip(points.xs, points.seconds, points.numbers, strict=True))


def flow_figures(period: FlowPeriod) -> dict:
    """Everything SPEC §8's flow answer holds, in two queries."""
    with flow_statements():
        return flow_answer(period, flow_deliveries(period), flow_stages_and_wip(period))


def flow_answer(period: FlowPeriod, deliveries: dict, stages_and_wip: dict) -> dict:
    """SPEC §8's answer, in its order, from the two queries' results."""
    return {
        "shop_id": period.shop_id,
        "from": period.date_from.isoformat(),
        "to": period.date_to.isoformat(),
        "time_zone": period.time_zone,
        "delivered": deliveries["delivered"],
        "cycle_time_seconds": deliveries["cycle_time_seconds"],
        "on_time": deliveries["on_time"],
        "stages": stages_and_wip["stages"],
        "throughput": deliveries["throughput"],
        "wip": stages_and_wip["wip"],
    }


def repair_order_ids_by_number(*, shop_id: int, repair_number: str) -> QuerySet[RepairOrder, int]:
    return RepairOrder.objects.filter(shop_id=shop_id, repair_number=repair_number).values_list(
        "id", flat=True
    )


def repair_order_stage_changes(*, repair_order_id: int) -> QuerySet[StageChange]:
    """An RO's stage history, oldest first (SPEC §4): its creation is the first entry."""
    return (
        StageChange.objects.filter(repair_order_id=repair_order_id)
        .select_related("changed_by")
        .order_by("changed_at", "id")
    )
