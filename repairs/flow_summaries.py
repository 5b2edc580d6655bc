"""The flow summaries (FlowVisit, FlowDelivery): kept exact by every writer of the stage history.

The flow figures (repairs/flow.py) read a period of one shop from these two tables by one index
range each, instead of each RO's history (repairs/flow_live.py, the reference they are tested
against). Whoever writes stage history calls `flow_summaries_refresh` with the ROs it changed, in
its transaction, after writing the changes and the RO rows: repairs.services.repair_order_move
(board, undo, beacons), the demo generators; and the writers of the two RO fields a delivery
copies (scheduled_delivery, repair_number): the batch PATCH, the admin. The batch creation writes
its ROs' one visit each (their creation, open) in its insert statement (repairs/batch/sql.py): a
new RO has no other summary, and 1,000 of them cost a refresh ~10 % of the request.

The refresh recomputes the ROs' summaries from their whole histories (≈ 15 changes an RO) with
SPEC §8's definitions, and writes only the rows that differ: a move writes two visits (the one it
ended, the one it began) and at most one delivery. Recomputing, rather than patching the last
visit, keeps a history written out of time order (a beacon reporting the past) exact as well.
"""

from collections.abc import Iterable

from django.db import connection, transaction

from .stages import STAGES

# SPEC §8: from VEHICLE ARRIVE on the car is on the premises; from DELIVERY UNCONFIRMED on it has left.
ARRIVED_POSITION = 2
DELIVERED_POSITION = 14


def _stage_ids(by_position) -> list[int]:
    # The stages are fixed (SPEC §1): a rule on positions is a list of ids, no join needed.
    return [stage_id for position, stage_id, _ in STAGES if by_position(position)]


ARRIVED_IDS = _stage_ids(lambda position: position >= ARRIVED_POSITION)
DELIVERED_IDS = _stage_ids(lambda position: position >= DELIVERED_POSITION)
PRODUCTION_IDS = _stage_ids(lambda position: position < DELIVERED_POSITION)
# The RO fields a FlowDelivery copies: whoever writes one refreshes the RO's summaries.
FLOW_SUMMARY_FIELDS = frozenset({"repair_number", "scheduled_delivery"})

# `ro`: the ROs to refresh (id, shop_id, stage_id, repair_number, scheduled_delivery), a CTE the caller defines.
_REFRESH_SQL = """
    -- Each change begins a visit that the RO's next change ends (SPEC §8's LEAD).
    computed_visit AS (
        SELECT sc.id, ro.shop_id, sc.to_stage_id, sc.changed_at,
               lead(sc.changed_at) OVER (PARTITION BY sc.repair_order_id ORDER BY sc.changed_at, sc.id) AS left_at
        FROM ro JOIN repairs_stagechange sc ON sc.repair_order_id = ro.id
    ),
    visit_written AS (
        INSERT INTO repairs_flowvisit (stage_change_id, shop_id, stage_id, entered_at, left_at)
        SELECT c.* FROM computed_visit c LEFT JOIN repairs_flowvisit v ON v.stage_change_id = c.id
        WHERE v.stage_change_id IS NULL OR v.left_at IS DISTINCT FROM c.left_at
        ON CONFLICT (stage_change_id) DO UPDATE SET left_at = EXCLUDED.left_at
    ),
    -- An RO now at position ≥ 14: delivered at its last change from < 14 to ≥ 14; arrived at the
    -- start of its first visit at position ≥ 2.
    computed_delivery AS (
        SELECT ro.id, ro.shop_id, delivered.changed_at AS delivered_at, arrived.changed_at AS arrived_at,
               ro.repair_number, ro.scheduled_delivery
        FROM ro
        CROSS JOIN LATERAL (
            SELECT sc.changed_at FROM repairs_stagechange sc
            WHERE sc.repair_order_id = ro.id
              AND sc.from_stage_id = ANY(%(production_ids)s) AND sc.to_stage_id = ANY(%(delivered_ids)s)
            ORDER BY sc.changed_at DESC, sc.id DESC LIMIT 1
        ) AS delivered
        LEFT JOIN LATERAL (
            SELECT sc.changed_at FROM repairs_stagechange sc
            WHERE sc.repair_order_id = ro.id AND sc.to_stage_id = ANY(%(arrived_ids)s)
            ORDER BY sc.changed_at, sc.id LIMIT 1
        ) AS arrived ON true
        WHERE ro.stage_id = ANY(%(delivered_ids)s)
    ),
    -- Moved back into production: no longer delivered.
    delivery_gone AS (
        DELETE FROM repairs_flowdelivery d USING ro
        WHERE d.repair_order_id = ro.id AND NOT EXISTS (SELECT FROM computed_delivery c WHERE c.id = ro.id)
    )
    INSERT INTO repairs_flowdelivery AS d
        (repair_order_id, shop_id, delivered_at, arrived_at, repair_number, scheduled_delivery)
    SELECT * FROM computed_delivery
    ON CONFLICT (repair_order_id) DO UPDATE SET
        delivered_at = EXCLUDED.delivered_at, arrived_at = EXCLUDED.arrived_at,
        repair_number = EXCLUDED.repair_number, scheduled_delivery = EXCLUDED.scheduled_delivery
    WHERE (d.delivered_at, d.arrived_at, d.repair_number, d.scheduled_delivery)
        IS DISTINCT FROM (EXCLUDED.delivered_at, EXCLUDED.arrived_at, EXCLUDED.repair_number, EXCLUDED.scheduled_delivery)
"""

_PARAMS = {"arrived_ids": ARRIVED_IDS, "delivered_ids": DELIVERED_IDS, "production_ids": PRODUCTION_IDS}


# No savepoint: it runs inside its writer's transaction, as one statement that succeeds or fails whole.
@transaction.atomic(savepoint=False)
def flow_summaries_refresh(*, repair_order_ids: Iterable[int]) -> None:
    """Bring the ROs' visits and delivery in line with their stage histories and rows: one statement."""
    ids = sorted(set(repair_order_ids))
    if not ids:
        return
    sql = f"""WITH ro AS MATERIALIZED (
        SELECT id, shop_id, stage_id, repair_number, scheduled_delivery FROM repairs_repairorder
        WHERE id = ANY(%(ids)s::bigint[])
    ), {_REFRESH_SQL}"""
    with connection.cursor() as cursor:
        cursor.execute(sql, {**_PARAMS, "ids": ids})


@transaction.atomic
def flow_summaries_rebuild(*, shop_ids: Iterable[int] | None = None) -> None:
    """Recompute the summaries of whole shops (None: every shop) from their histories, set-based: for
    histories written around the writers (bench data, a repair after a restore)."""
    where, params = (
        ("", {}) if shop_ids is None else ("WHERE shop_id = ANY(%(shops)s)", {"shops": list(shop_ids)})
    )
    sql = f"""WITH ro AS MATERIALIZED (
        SELECT id, shop_id, stage_id, repair_number, scheduled_delivery FROM repairs_repairorder {where}
    ), {_REFRESH_SQL}"""
    with connection.cursor() as cursor:
        cursor.execute(sql, {**_PARAMS, **params})
