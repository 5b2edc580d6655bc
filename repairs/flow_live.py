"""The flow figures computed from the stage history itself: the reference for the summaries.

SPEC §8's definitions as LEAD/LAG over each RO's changes (the statements the flow figures used
before repairs/flow_summaries.py). Used only to verify the summaries (tests/flow/) and to time
them against it (docs/bench.md), never by a page or the API: its cost grows with the ROs a period
touches times their histories, where repairs/flow.py reads index ranges of the summaries.
"""

from collections.abc import Iterator

from .flow import (
    DAY_STARTS,
    DELIVERED_ROWS_SELECT,
    DELIVERY_FIGURES_SELECT,
    PERIOD_END,
    PERIOD_START,
    STAGES_AND_WIP_SELECT,
    STAGES_CTE,
    WEEKS_END,
    WEEKS_START,
    DeliveredRow,
    FlowPeriod,
    deliveries_result,
    fetch,
    fetch_chunks,
    flow_answer,
    stages_and_wip_result,
    wip_counts,
)


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


def flow_live_deliveries(period: FlowPeriod) -> dict:
    """repairs.flow.flow_deliveries, from the history."""
    sql = f"""WITH {_delivered_sql(WEEKS_START)},
    cars AS (
        SELECT d.delivered_at, ro.scheduled_delivery, {_CYCLE_SECONDS} AS cycle_seconds,
               date_trunc('week', d.delivered_at AT TIME ZONE %(tz)s)::date AS week,
               d.delivered_at >= {PERIOD_START} AND d.delivered_at < {PERIOD_END} AS in_period
        FROM delivered d JOIN repairs_repairorder ro ON ro.id = d.repair_order_id {_ARRIVAL}
        WHERE d.delivered_at < {WEEKS_END}
    ) {DELIVERY_FIGURES_SELECT}"""
    return deliveries_result(fetch(sql, period), period)


def flow_live_stages_and_wip(period: FlowPeriod) -> dict:
    """repairs.flow.flow_stages_and_wip, over the changes of the ROs changed since the period began
    (their changes before its end, each paired with the one before it, LAG):

    - a visit ends at the RO's next change (SPEC §8's LEAD): the change that ends a visit is the one
      after it, so each change with a LAG ends the visit of the stage it left, `left_length` long;
    - per day and stage, the ROs there at the end of the day (today: now): the state when the
      period began (ROs unchanged since are where their row says, the others in the stage their
      changes before it left them in), plus every change in the period, day by day: one in, one out.
    """
    sql = f"""WITH {_recent_sql(PERIOD_START)}, {DAY_STARTS}, {STAGES_CTE},
    -- Each change starts a visit to its stage and ends the RO's visit before it (LAG, the same pairs
    -- as LEAD from the other side): one day number per change, for both.
    changes AS MATERIALIZED (
        SELECT c.stage_id, c.left_stage_id, c.changed_at - c.left_started_at AS left_length,
               c.changed_at >= {PERIOD_START} AS in_period, width_bucket(c.changed_at, day_starts.starts) AS day
        FROM recent CROSS JOIN LATERAL (
            SELECT sc.to_stage_id AS stage_id, sc.changed_at,
                   lag(sc.to_stage_id) OVER by_time AS left_stage_id, lag(sc.changed_at) OVER by_time AS left_started_at
            FROM repairs_stagechange sc
            WHERE sc.repair_order_id = recent.id AND sc.changed_at < {PERIOD_END} AND sc.changed_at <= %(now)s
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
    deltas AS MATERIALIZED (
        SELECT CASE WHEN GROUPING(left_stage_id) = 1 THEN stage_id ELSE left_stage_id END AS stage_id, day,
               CASE WHEN GROUPING(left_stage_id) = 1 THEN count(*) ELSE -count(*) END AS delta
        FROM changes GROUP BY GROUPING SETS ((stage_id, day), (left_stage_id, day))
        UNION ALL
        -- ROs unchanged since the period began are where their row says, as they were then.
        SELECT ro.stage_id, 0, count(*) FROM repairs_repairorder ro
        WHERE ro.shop_id = %(shop)s AND ro.updated_at < {PERIOD_START}
        GROUP BY 1
    ),
    wip AS (
        SELECT s.id AS stage_id, {wip_counts("SELECT deltas.day, deltas.delta FROM deltas WHERE deltas.stage_id = s.id")} AS counts
        FROM s
    )
    {STAGES_AND_WIP_SELECT}"""
    return stages_and_wip_result(fetch(sql, period), period)


def flow_live_figures(period: FlowPeriod) -> dict:
    """repairs.flow.flow_figures, from the history."""
    return flow_answer(period, flow_live_deliveries(period), flow_live_stages_and_wip(period))


def flow_live_delivered_rows(period: FlowPeriod, *, chunk: int = 500) -> Iterator[DeliveredRow]:
    """repairs.flow.flow_delivered_rows, from the history."""
    sql = f"""WITH {_delivered_sql(PERIOD_START)},
    period AS (
        SELECT ro.*, d.delivered_at, arrived.changed_at AS arrived_at, {_CYCLE_SECONDS} AS cycle_seconds
        FROM delivered d JOIN repairs_repairorder ro ON ro.id = d.repair_order_id {_ARRIVAL}
        WHERE d.delivered_at < {PERIOD_END}
    ) {DELIVERED_ROWS_SELECT}"""
    for row in fetch_chunks(sql, period, chunk):
        yield DeliveredRow(*row)
