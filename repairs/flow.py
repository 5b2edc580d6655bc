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

from django.db import connection
from django.db.models import QuerySet

from .models import StageChange
from .stages import STAGES

# SPEC §8: from VEHICLE ARRIVE on the car is on the premises; from DELIVERY
# UNCONFIRMED on it has left.
ARRIVED_POSITION = 2
DELIVERED_POSITION = 14
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
            "shop": self.shop_id, "tz": self.time_zone, "from": self.date_from, "to": self.date_to,
            "now": self.now, "arrived": ARRIVED_POSITION, "delivered": DELIVERED_POSITION,
        }  # fmt: skip


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
        JOIN repairs_stage current_stage ON current_stage.id = recent.stage_id
        CROSS JOIN LATERAL (
            SELECT sc.changed_at FROM repairs_stagechange sc
            JOIN repairs_stage from_stage ON from_stage.id = sc.from_stage_id
            JOIN repairs_stage to_stage ON to_stage.id = sc.to_stage_id
            WHERE sc.repair_order_id = recent.id AND sc.changed_at >= {since} AND sc.changed_at <= %(now)s
              AND from_stage.position < %(delivered)s AND to_stage.position >= %(delivered)s
            ORDER BY sc.changed_at DESC, sc.id DESC LIMIT 1
        ) AS last
        WHERE current_stage.position >= %(delivered)s
    )"""


# The delivered ROs of the period with their arrival (first visit at position ≥ 2).
_DELIVERED_IN_PERIOD = f"""
    WITH {_delivered_sql(_PERIOD_START)},
    period AS (
        SELECT ro.*, d.delivered_at, arrived.changed_at AS arrived_at,
               extract(epoch FROM d.delivered_at - arrived.changed_at)::float8 AS cycle_seconds
        FROM delivered d
        JOIN repairs_repairorder ro ON ro.id = d.repair_order_id
        LEFT JOIN LATERAL (
            SELECT sc.changed_at FROM repairs_stagechange sc JOIN repairs_stage s ON s.id = sc.to_stage_id
            WHERE sc.repair_order_id = d.repair_order_id AND s.position >= %(arrived)s
            ORDER BY sc.changed_at, sc.id LIMIT 1
        ) AS arrived ON true
        WHERE d.delivered_at < {_PERIOD_END}
    )"""


# `visits` of the ROs changed since the period began: each RO's changes before the period's
# end (and now), in (changed_at, id) order on stage_change_ro_time_idx, each with the time of
# the next one (LEAD), NULL while the visit goes on past the period.
_VISITS = f"""{_recent_sql(_PERIOD_START)},
    visits AS MATERIALIZED (
        SELECT v.stage_id, v.started_at, v.ended_at
        FROM recent CROSS JOIN LATERAL (
            SELECT sc.to_stage_id AS stage_id, sc.changed_at AS started_at,
                   lead(sc.changed_at) OVER (ORDER BY sc.changed_at, sc.id) AS ended_at
            FROM repairs_stagechange sc
            WHERE sc.repair_order_id = recent.id AND sc.changed_at < {_PERIOD_END} AND sc.changed_at <= %(now)s
        ) AS v
    )"""


def _fetch(sql: str, period: FlowPeriod) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, period.params)
        return cursor.fetchall()


# ---- The figures -----------------------------------------------------------------------------------------


def flow_delivery_summary(period: FlowPeriod) -> dict:
    """`delivered`, `cycle_time_seconds` and `on_time` of the ROs delivered in the period."""
    sql = f"""{_DELIVERED_IN_PERIOD}
    SELECT count(*),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY cycle_seconds),
           percentile_cont(0.9) WITHIN GROUP (ORDER BY cycle_seconds),
           avg(cycle_seconds),
           count(scheduled_delivery),
           count(*) FILTER (WHERE delivered_at <= scheduled_delivery)
    FROM period"""
    delivered, median, p90, mean, promised, on_time = _fetch(sql, period)[0]
    return {
        "delivered": delivered,
        "cycle_time_seconds": {"median": median, "p90": p90, "mean": mean},
        "on_time": {
            "promised": promised,
            "on_time": on_time,
            "rate": on_time / promised if promised else None,
        },
    }


def flow_throughput(period: FlowPeriod) -> list[dict]:
    """ROs delivered in each ISO week touching the period (the whole week, up to now)."""
    sql = f"""WITH {_delivered_sql(_WEEKS_START)},
    weeks AS (
        SELECT week::date AS week FROM generate_series(
            date_trunc('week', %(from)s::date::timestamp), date_trunc('week', %(to)s::date::timestamp),
            interval '1 week') AS week
    )
    SELECT to_char(weeks.week, 'IYYY-"W"IW'), count(d.repair_order_id)
    FROM weeks
    LEFT JOIN delivered d ON date_trunc('week', d.delivered_at AT TIME ZONE %(tz)s)::date = weeks.week
    GROUP BY weeks.week ORDER BY weeks.week"""
    return [{"week": week, "delivered": count} for week, count in _fetch(sql, period)]


def flow_stage_times(period: FlowPeriod) -> list[dict]:
    """Per stage in board order: the visits that ended in the period, their median and p90 length."""
    sql = f"""WITH {_VISITS},
    ended AS (
        SELECT stage_id, extract(epoch FROM ended_at - started_at)::float8 AS seconds
        FROM visits WHERE ended_at >= {_PERIOD_START}
    )
    SELECT s.id, count(ended.seconds),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY ended.seconds),
           percentile_cont(0.9) WITHIN GROUP (ORDER BY ended.seconds)
    FROM repairs_stage s LEFT JOIN ended ON ended.stage_id = s.id
    GROUP BY s.id, s.position ORDER BY s.position"""
    return [
        {"stage_id": stage_id, "visits": visits, "median_seconds": median, "p90_seconds": p90}
        for stage_id, visits, median, p90 in _fetch(sql, period)
    ]


def flow_wip(period: FlowPeriod) -> list[dict]:
    """ROs in each stage at the end of each day of the period (today: now).

    The state when the period starts, then every visit that starts or ends in
    the period added up day by day.
    """
    sql = f"""WITH {_VISITS},
    base AS (
        -- ROs unchanged since the period began are where their row says, as they were then;
        -- the others, in the stage of their visit going on when it began.
        SELECT ro.stage_id, count(*) AS n FROM repairs_repairorder ro
        WHERE ro.shop_id = %(shop)s AND ro.updated_at < {_PERIOD_START}
        GROUP BY 1
        UNION ALL
        SELECT stage_id, count(*) FROM visits
        WHERE started_at < {_PERIOD_START} AND (ended_at IS NULL OR ended_at >= {_PERIOD_START})
        GROUP BY 1
    ),
    base_total AS (SELECT stage_id, sum(n) AS n FROM base GROUP BY 1),
    events AS (
        SELECT started_at AS at, stage_id, 1 AS delta FROM visits WHERE started_at >= {_PERIOD_START}
        UNION ALL
        SELECT ended_at, stage_id, -1 FROM visits WHERE ended_at >= {_PERIOD_START}
    ),
    daily AS (
        SELECT (at AT TIME ZONE %(tz)s)::date AS day, stage_id, sum(delta) AS delta FROM events GROUP BY 1, 2
    ),
    days AS (
        SELECT day::date AS day
        FROM generate_series(%(from)s::date::timestamp, %(to)s::date::timestamp, interval '1 day') AS day
    )
    SELECT days.day, s.id,
           coalesce(base.n, 0) + coalesce(sum(daily.delta) OVER (PARTITION BY s.id ORDER BY days.day), 0)
    FROM days CROSS JOIN repairs_stage s
    LEFT JOIN base_total base ON base.stage_id = s.id
    LEFT JOIN daily ON daily.day = days.day AND daily.stage_id = s.id
    ORDER BY days.day, s.position"""
    wip: dict[date, dict[str, int]] = {}
    for day, stage_id, count in _fetch(sql, period):
        wip.setdefault(day, {})[str(stage_id)] = int(count)
    return [{"date": day.isoformat(), "stages": stages} for day, stages in wip.items()]


def flow_cycle_time_weeks(period: FlowPeriod) -> list[dict]:
    """The period's delivered ROs by ISO week of delivery: count, median and p90 cycle time (the page's table)."""
    sql = f"""{_DELIVERED_IN_PERIOD}
    SELECT to_char(date_trunc('week', delivered_at AT TIME ZONE %(tz)s), 'IYYY-"W"IW') AS week, count(*),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY cycle_seconds),
           percentile_cont(0.9) WITHIN GROUP (ORDER BY cycle_seconds)
    FROM period GROUP BY 1 ORDER BY 1"""
    return [
        {"week": week, "delivered": count, "median_seconds": median, "p90_seconds": p90}
        for week, count, median, p90 in _fetch(sql, period)
    ]


def flow_figures(period: FlowPeriod) -> dict:
    """Everything SPEC §8's flow answer holds, in four queries."""
    return {
        "shop_id": period.shop_id,
        "from": period.date_from.isoformat(),
        "to": period.date_to.isoformat(),
        "time_zone": period.time_zone,
        **flow_delivery_summary(period),
        "stages": flow_stage_times(period),
        "throughput": flow_throughput(period),
        "wip": flow_wip(period),
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
    with connection.cursor() as cursor:
        cursor.execute(sql, period.params)
        while rows := cursor.fetchmany(chunk):
            yield from (DeliveredRow(*row) for row in rows)


def repair_order_stage_changes(*, repair_order_id: int) -> QuerySet[StageChange]:
    """An RO's stage history, oldest first (SPEC §4): its creation is the first entry."""
    return (
        StageChange.objects.filter(repair_order_id=repair_order_id)
        .select_related("changed_by")
        .order_by("changed_at", "id")
    )
