"""The batch's write statements: one per table, whatever the number of ROs.

Each statement's rows travel as one jsonb parameter that PostgreSQL unpacks
with jsonb_array_elements: one round trip and no per-value work in Python,
where the ORM's bulk_create / bulk_update cost several times the whole
request (docs/bench.md, "Batch writes"). Only repairs/batch/services.py
calls these, inside its transaction and after its checks and locks.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection

from ..live import board_version_predicted
from ..models import FlowVisit, Person, RepairOrder, RepairTeamMember, StageChange
from ..people import PERSON_FIELDS
from .fields import COLUMNS

_PERSON_FIELDS = sorted(PERSON_FIELDS)


def _json_value(value: Any) -> str:
    # Exact text for PostgreSQL to cast: no float rounding of hours, offsets kept.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"Cannot send {type(value).__name__} as a batch value")


def _jsonb(rows: Any) -> str:
    return json.dumps(rows, default=_json_value)


def _cast(expression: str, field: str) -> str:
    # Text comes out of jsonb as text; anything else is cast to the column's
    # type (text is not cast: a cast to varchar(n) would cut a long value silently).
    model_field = RepairOrder._meta.get_field(field)
    if model_field.get_internal_type() == "CharField":
        return expression
    return f"({expression})::{model_field.cast_db_type(connection)}"


def _column(field: str) -> str:
    # Field names end up in the SQL text: only the known batch fields may.
    if field not in COLUMNS:
        raise ValueError(f"Not a batch field: {field!r}")
    return RepairOrder._meta.get_field(field).column


def repair_orders_insert(
    *, rows: Sequence[tuple[int, str, Mapping[str, Any]]], fields: Sequence[str], stage_id: int, now: datetime
) -> tuple[dict[tuple[int, str], int], dict[int, int]]:
    """Insert ROs (shop_id, repair_number, {field: value}) in `stage_id`, each
    with the first line of its stage history and the flow summary of that line. Returns the ids of those
    inserted by (shop_id, repair_number) — an RO whose number is taken in its
    shop (committed, or by a concurrent writer that commits) is skipped — and the
    board version each shop's new cards were stamped with (board_version_predicted)."""
    payload = _jsonb([[shop_id, number, *(values[f] for f in fields)] for shop_id, number, values in rows])
    columns = ", ".join(_column(f) for f in fields)
    values = ", ".join(_cast(f"r->>{i + 2}", f) for i, f in enumerate(fields))
    sql = f"""
        WITH new_ro AS (
            INSERT INTO {RepairOrder._meta.db_table} (
                shop_id, repair_number, stage_id, stage_entered_at, version, created_at, updated_at,
                board_version, {columns}
            )
            SELECT (r->>0)::integer, r->>1, %(stage_id)s, %(now)s, 1, %(now)s, %(now)s,
                {board_version_predicted("(r->>0)::integer")}, {values}
            FROM jsonb_array_elements(%(rows)s::jsonb) WITH ORDINALITY AS x(r, n)
            ORDER BY x.n
            ON CONFLICT (shop_id, repair_number) DO NOTHING
            RETURNING id, shop_id, repair_number, board_version
        ), history AS (
            INSERT INTO {StageChange._meta.db_table}
                (repair_order_id, from_stage_id, to_stage_id, changed_at, source)
            SELECT id, NULL, %(stage_id)s, %(now)s, %(source)s FROM new_ro ORDER BY id
            RETURNING id, repair_order_id
        ), visit AS (
            -- Its flow summary (repairs/flow_summaries.py): the visit its creation begins, still open.
            INSERT INTO {FlowVisit._meta.db_table} (stage_change_id, shop_id, stage_id, entered_at, left_at)
            SELECT history.id, new_ro.shop_id, %(stage_id)s, %(now)s, NULL
            FROM history JOIN new_ro ON new_ro.id = history.repair_order_id
        )
        SELECT shop_id, repair_number, id, board_version FROM new_ro
    """
    params = {"rows": payload, "stage_id": stage_id, "now": now, "source": StageChange.Source.API.value}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows_written = cursor.fetchall()
    ids = {(shop_id, number): pk for shop_id, number, pk, _ in rows_written}
    # One guess per shop (the statement reads one snapshot); a shop with two would be left out.
    versions: dict[int, set[int]] = {}
    for shop_id, _, _, version in rows_written:
        versions.setdefault(shop_id, set()).add(version)
    return ids, {shop_id: v.pop() for shop_id, v in versions.items() if len(v) == 1}


def repair_orders_update(
    *, changes: Sequence[tuple[int, Mapping[str, Any]]], fields: Iterable[str], now: datetime
) -> None:
    """Apply each RO's own sent fields ({field: value}, None clears) by id, and
    give every one of them version + 1 and updated_at = now. Fields a row
    did not send keep their value, whatever the other rows sent."""
    payload = _jsonb([[pk, dict(values)] for pk, values in changes])
    assignments = []
    for f in sorted(fields):
        column = _column(f)
        sent = _cast(f"x.r->1->>'{f}'", f)
        assignments.append(f"{column} = CASE WHEN x.r->1 ? '{f}' THEN {sent} ELSE ro.{column} END")
    stamp = f"board_version = {board_version_predicted('ro.shop_id')}"  # repairs.live: one row write, not two
    sql = f"""
        UPDATE {RepairOrder._meta.db_table} AS ro
        SET {", ".join([*assignments, "version = ro.version + 1", "updated_at = %(now)s", stamp])}
        FROM jsonb_array_elements(%(rows)s::jsonb) AS x(r)
        WHERE ro.id = (x.r->>0)::bigint
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"rows": payload, "now": now})


def people_lock(
    *, keys: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], tuple[int, dict[str, str | None]]]:
    """Lock the people that exist among (shop_id, external_id) keys, in id order,
    and return their ids and stored fields."""
    shop_ids, external_ids = zip(*keys, strict=True) if keys else ((), ())
    sql = f"""
        SELECT p.shop_id, p.external_id, p.id, {", ".join(f"p.{f}" for f in _PERSON_FIELDS)}
        FROM {Person._meta.db_table} AS p
        JOIN unnest(%(shop_ids)s::integer[], %(external_ids)s::text[]) AS k(shop_id, external_id)
            ON p.shop_id = k.shop_id AND p.external_id = k.external_id
        ORDER BY p.id
        FOR UPDATE OF p
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"shop_ids": list(shop_ids), "external_ids": list(external_ids)})
        rows = cursor.fetchall()
    return {(row[0], row[1]): (row[2], dict(zip(_PERSON_FIELDS, row[3:], strict=True))) for row in rows}


def people_upsert(
    *, people: Sequence[tuple[int, str, Mapping[str, str | None]]], now: datetime
) -> dict[tuple[int, str], int]:
    """Insert or update people (shop_id, external_id, {first_name, last_name,
    title}) in the order given. Returns their ids by (shop_id, external_id)."""
    payload = _jsonb(
        [[shop_id, external_id, *(v[f] for f in _PERSON_FIELDS)] for shop_id, external_id, v in people]
    )
    names = ", ".join(_PERSON_FIELDS)
    values = ", ".join(f"r->>{i + 2}" for i in range(len(_PERSON_FIELDS)))
    updates = ", ".join(f"{f} = EXCLUDED.{f}" for f in [*_PERSON_FIELDS, "updated_at"])
    sql = f"""
        INSERT INTO {Person._meta.db_table} (shop_id, external_id, {names}, updated_at)
        SELECT (r->>0)::integer, r->>1, {values}, %(now)s
        FROM jsonb_array_elements(%(rows)s::jsonb) WITH ORDINALITY AS x(r, n)
        ORDER BY x.n
        ON CONFLICT (shop_id, external_id) DO UPDATE SET {updates}
        RETURNING shop_id, external_id, id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"rows": payload, "now": now})
        return {(shop_id, external_id): pk for shop_id, external_id, pk in cursor.fetchall()}


def team_links_insert(*, links: Sequence[tuple[int, int, int]]) -> None:
    """Insert team links (repair_order_id, person_id, position) in the order given."""
    sql = f"""
        INSERT INTO {RepairTeamMember._meta.db_table} (repair_order_id, person_id, position)
        SELECT (r->>0)::bigint, (r->>1)::bigint, (r->>2)::integer
        FROM jsonb_array_elements(%(rows)s::jsonb) WITH ORDINALITY AS x(r, n)
        ORDER BY x.n
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"rows": _jsonb([list(link) for link in links])})
