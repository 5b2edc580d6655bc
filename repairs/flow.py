"""Flow analytics (SPEC §8): cycle time, time per stage, throughput, work in progress.

Every figure is one SQL statement over the stage history, computed in
PostgreSQL (window functions, percentile_cont); nothing loads a history into
Python. The definitions, exactly as SPEC §8 words them:

- a *visit* runs from the change that put an RO in a stage to its next change
  (LEAD over the RO's changes in (changed_at, id) order), or to now;
- *arrived at* is the start of the RO's first visit to a stage at position ≥ 2;
- *delivered at*, for an RO now at position ≥ 14, is the last change from a
  stage at position < 14 to one at position ≥ 14;
- a day is [00:00, next 00:00) in the shop's time zone; a period is its days,
  both ends included; weeks are ISO weeks (Monday to Sunday) in that zone.

Each query reads only the ROs of the shop and, through stage_change_ro_time_idx,
the changes of the period (plus the few earlier changes of the ROs it touches),
so its cost follows the period's activity, not the length of the shop's history.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import QuerySet

from .models import RepairOrder, StageChange
from .stages import STAGES

# SPEC §8: from VEHICLE ARRIVE on the car is on the premises; from DELIVERY
# UNCONFIRMED on it has left.
ARRIVED_POSITION = 2
DELIVERED_POSITION = 14
MAX_PERIOD_DAYS = 400
DEFAULT_PERIOD_DAYS = 30
STAGE_IDS_IN_BOARD_ORDER = [stage_id for _, stage_id, _ in STAGES]


def _stage_ids(by_position) -> list[int]:
    # The stages are fixed (SPEC §1): a rule on positions is a list of ids, no join needed.
    return [stage_id for position, stage_id, _ in STAGES if by_position(position)]


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
            "arrived_ids": _stage_ids(lambda position: position >= ARRIVED_POSITION),
            "delivered_ids": _stage_ids(lambda position: position >= DELIVERED_POSITION),
            "production_ids": _stage_ids(lambda position: position < DELIVERED_POSITION),
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


# ---- SQL building blocks ---------------------------------------------------------------------------------

_PERIOD_START = "(%(from)s::date::timestamp AT TIME ZONE %(tz)s)"
_PERIOD_END = "((%(to)s::date + 1)::timestamp AT TIME ZONE %(tz)s)"
_WEEKS_START = "(date_trunc('week', %(from)s::date::timestamp) AT TIME ZONE %(tz)s)"
_WEEKS_END = "((date_trunc('week', %(to)s::date::timestamp) + interval '1 week') AT TIME ZONE %(tz)s)"


def _recent_sql(since: str) -> str:
    """`recent`: the shop's ROs whose row changed at or after `since` (ro_shop_updated_idx).

    Every stage change bumps its RO's updated_at (repair_order_move, the batch
    API), so every RO with a change since then is among them: a superset that
    skips the shop's older ROs without reading their histories.
    """
    return f"""
    recent AS MATERIALIZED (
        SELECT ro.id, ro.stage_id FROM repairs_repairorder ro
        WHERE ro.shop_id = %(shop)s AND ro.updated_at >= {since}
    )"""


def _delivered_sql(since: str) -> str:
    """`delivered`: each RO now at position ≥ 14 whose delivered at is `since` or later.

    An RO's last delivering change at or after `since` is its last one at all,
    so each RO's changes from `since` on are read, newest first, until one is found.
    """
    return f"""{_recent_sql(since)},
    delivered AS (
        SELECT recent.id AS repair_order_id, last.changed_at AS delivered_at
        FROM recent
        CROSS JOIN LATERAL (
            SELECT sc.changed_at FROM repairs_stagechange sc
            WHERE sc.repair_order_id = recent.id AND sc.changed_at >= {since} AND sc.changed_at <= %(now)s
              AND sc.from_stage_id = ANY(%(production_ids)s) AND sc.to_stage_id = ANY(%(delivered_ids)s)
            ORDER BY sc.changed_at DESC, sc.id DESC LIMIT 1
        ) AS last
        WHERE recent.stage_id = ANY(%(delivered_ids)s)
    )"""


# A delivered RO's arrival (first visit at position ≥ 2) and cycle time; `d` is its `delivered` row.
_ARRIVAL = """
        LEFT JOIN LATERAL (
            SELECT sc.changed_at FROM repairs_stagechange sc
            WHERE sc.repair_order_id = d.repair_order_id AND sc.to_stage_id = ANY(%(arrived_ids)s)
            ORDER BY sc.changed_at, sc.id LIMIT 1
        ) AS arrived ON true"""
_CYCLE_SECONDS = "extract(epoch FROM d.delivered_at - arrived.changed_at)::float8"

# The delivered ROs of the period, with their arrival.
_DELIVERED_IN_PERIOD = f"""
    WITH {_delivered_sql(_PERIOD_START)},
    period AS (
        SELECT ro.*, d.delivered_at, arrived.changed_at AS arrived_at, {_CYCLE_SECONDS} AS cycle_seconds
        FROM delivered d JOIN repairs_repairorder ro ON ro.id = d.repair_order_id {_ARRIVAL}
        WHERE d.delivered_at < {_PERIOD_END}
    )"""


# Settings for the statement's transaction only, in one round trip:
# - PostgreSQL prices a per-RO lookup repeated for thousands of ROs high enough to JIT-compile the
#   statement, which then costs seconds on a busy machine for a query that runs in tens of ms;
# - a year of one shop is ~100,000 visits whose lengths are sorted per stage (the percentiles): with
#   the default 4 MB of work_mem that sort and the changes' CTE spill to disk; 32 MB keeps them in memory.
_STATEMENT_SETTINGS = "SELECT set_config('jit', 'off', true), set_config('work_mem', '32MB', true)"


def _fetch(sql: str, period: FlowPeriod) -> list[tuple]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_STATEMENT_SETTINGS)
        cursor.execute(sql, period.params)
        return cursor.fetchall()


# ---- The figures -----------------------------------------------------------------------------------------


def _iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def flow_deliveries(period: FlowPeriod) -> dict:
    """The delivery figures in one query: `delivered`, `cycle_time_seconds` and `on_time` of the ROs
    delivered in the period; `throughput`, the deliveries of each ISO week touching the period (whole
    weeks); and `cycle_weeks`, the period's cycle times by week of delivery (the page's table)."""
    sql = f"""WITH {_delivered_sql(_WEEKS_START)},
    cars AS (
        SELECT d.delivered_at, ro.scheduled_delivery, {_CYCLE_SECONDS} AS cycle_seconds,
               date_trunc('week', d.delivered_at AT TIME ZONE %(tz)s)::date AS week,
               d.delivered_at >= {_PERIOD_START} AND d.delivered_at < {_PERIOD_END} AS in_period
        FROM delivered d JOIN repairs_repairorder ro ON ro.id = d.repair_order_id {_ARRIVAL}
        WHERE d.delivered_at < {_WEEKS_END}
    )
    SELECT week, count(*), count(*) FILTER (WHERE in_period),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY cycle_seconds) FILTER (WHERE in_period),
           percentile_cont(0.9) WITHIN GROUP (ORDER BY cycle_seconds) FILTER (WHERE in_period),
           avg(cycle_seconds) FILTER (WHERE in_period),
           count(scheduled_delivery) FILTER (WHERE in_period),
           count(*) FILTER (WHERE in_period AND delivered_at <= scheduled_delivery)
    FROM cars GROUP BY GROUPING SETS ((), (week))"""
    weeks: dict[date, tuple] = {}
    for week, in_week, delivered, median, p90, mean, promised, on_time in _fetch(sql, period):
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


def flow_stages_and_wip(period: FlowPeriod) -> dict:
    """`stages` and `wip` in one query over the changes of the ROs changed since the period began
    (their changes before its end, each paired with the one before it, LAG):

    - a visit ends at the RO's next change (SPEC §8's LEAD): the change that ends a visit is the one
      after it, so each change with a LAG ends the visit of the stage it left, `left_length` long;
      per stage in board order, the visits that ended in the period, their median and p90 length;
    - per day and stage, the ROs there at the end of the day (today: now): the state when the
      period began (ROs unchanged since are where their row says, the others in the stage their
      changes before it left them in), plus every change in the period, day by day: one in, one out.

    One row per change, not per visit and its end: each instant is numbered to its day once.
    """
    sql = f"""WITH {_recent_sql(_PERIOD_START)},
    -- Where each day of the period begins, in the shop's zone. width_bucket (a binary search) numbers
    -- an instant by the day it falls on: 1 … N, and 0 before the period.
    day_starts AS (
        SELECT array_agg(day::timestamp AT TIME ZONE %(tz)s ORDER BY day) AS starts
        FROM generate_series(%(from)s::date::timestamp, %(to)s::date::timestamp, interval '1 day') AS day
    ),
    -- Each change starts a visit to its stage and ends the RO's visit before it (LAG, the same pairs
    -- as LEAD from the other side): one day number per change, for both.
    changes AS MATERIALIZED (
        SELECT c.stage_id, c.left_stage_id, c.changed_at - c.left_started_at AS left_length,
               c.changed_at >= {_PERIOD_START} AS in_period, width_bucket(c.changed_at, day_starts.starts) AS day
        FROM recent CROSS JOIN LATERAL (
            SELECT sc.to_stage_id AS stage_id, sc.changed_at,
                   lag(sc.to_stage_id) OVER by_time AS left_stage_id, lag(sc.changed_at) OVER by_time AS left_started_at
            FROM repairs_stagechange sc
            WHERE sc.repair_order_id = recent.id AND sc.changed_at < {_PERIOD_END} AND sc.changed_at <= %(now)s
            WINDOW by_time AS (ORDER BY sc.changed_at, sc.id)
        ) AS c, day_starts
    ),
    ended AS (
        SELECT left_stage_id AS stage_id, count(*) AS n,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY left_length) AS median,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY left_length) AS p90
        FROM changes WHERE in_period AND left_stage_id IS NOT NULL GROUP BY left_stage_id
    ),
    -- Each change adds one to its stage and takes one from the stage it left, on its day (0: before
    -- the period began): one pass, two groupings.
    deltas AS (
        SELECT CASE WHEN GROUPING(left_stage_id) = 1 THEN stage_id ELSE left_stage_id END AS stage_id, day,
               CASE WHEN GROUPING(left_stage_id) = 1 THEN count(*) ELSE -count(*) END AS delta
        FROM changes GROUP BY GROUPING SETS ((stage_id, day), (left_stage_id, day))
        UNION ALL
        -- ROs unchanged since the period began are where their row says, as they were then.
        SELECT ro.stage_id, 0, count(*) FROM repairs_repairorder ro
        WHERE ro.shop_id = %(shop)s AND ro.updated_at < {_PERIOD_START}
        GROUP BY 1
    ),
    daily AS (SELECT stage_id, day, sum(delta) AS delta FROM deltas WHERE stage_id IS NOT NULL GROUP BY 1, 2),
    day_zero AS (SELECT stage_id, delta AS n FROM daily WHERE day = 0),
    s AS (SELECT * FROM unnest(%(stage_ids)s::int[]) WITH ORDINALITY AS s(id, position))
    SELECT NULL::date AS day, s.id, s.position, coalesce(ended.n, 0),
           extract(epoch FROM ended.median)::float8, extract(epoch FROM ended.p90)::float8
    FROM s LEFT JOIN ended ON ended.stage_id = s.id
    UNION ALL
    SELECT %(from)s::date + days.day - 1, s.id, s.position,
           (coalesce(day_zero.n, 0) + coalesce(sum(daily.delta) OVER (PARTITION BY s.id ORDER BY days.day), 0))::bigint,
           NULL, NULL
    FROM generate_series(1, %(to)s::date - %(from)s::date + 1) AS days(day) CROSS JOIN s
    LEFT JOIN day_zero ON day_zero.stage_id = s.id
    LEFT JOIN daily ON daily.day = days.day AND daily.stage_id = s.id
    ORDER BY 1 NULLS FIRST, 3"""
    stages: list[dict] = []
    wip: dict[date, dict[str, int]] = {}
    for day, stage_id, _, count, median, p90 in _fetch(sql, period):
        if day is None:
            stages.append(
                {"stage_id": stage_id, "visits": count, "median_seconds": median, "p90_seconds": p90}
            )
        else:
            wip.setdefault(day, {})[str(stage_id)] = count
    return {
        "stages": stages,
        "wip": [{"date": day.isoformat(), "stages": counts} for day, counts in wip.items()],
    }


def flow_figures(period: FlowPeriod) -> dict:
    """Everything SPEC §8's flow answer holds, in two queries."""
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
    sql = f"""{_DELIVERED_IN_PERIOD}
    SELECT repair_number,
           concat_ws(' ', vehicle_year::text, vehicle_make, vehicle_model),
           insurance_name, arrived_at, delivered_at, cycle_seconds, scheduled_delivery
    FROM period ORDER BY delivered_at, repair_number"""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_STATEMENT_SETTINGS)
        cursor.execute(sql, period.params)
        while rows := cursor.fetchmany(chunk):
            yield from (DeliveredRow(*row) for row in rows)


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
