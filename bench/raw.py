"""The physical limit: the same rows into the same tables by raw psycopg.

Two ways, the faster of which is the target's baseline: `executemany` with
RETURNING (psycopg pipelines it), and COPY. Both upsert the shop's people
first (as the API must), then write the ROs, the first line of each RO's
stage history and the team links, in one committed transaction: the rows the
API writes, without parsing, validating or checking anything.
"""

import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import psycopg

RO_COLUMNS = [
    "shop_id",
    "repair_number",
    "stage_id",
    "stage_entered_at",
    "status",
    "scheduled_arrival",
    "scheduled_complete",
    "scheduled_delivery",
    "obs_event_id",
    "rental_car",
    "total_estimated_hours",
    "vehicle_year",
    "vehicle_make",
    "vehicle_model",
    "vehicle_color",
    "vehicle_vin",
    "vehicle_license_plate",
    "customer_first_name",
    "customer_last_name",
    "customer_email",
    "customer_phone_number",
    "insurance_name",
    "version",
    "created_at",
    "updated_at",
]


def _ro_row(shop_id: int, ro: dict, now: datetime) -> tuple:
    v, c = ro.get("vehicle", {}), ro.get("customer", {})
    return (
        shop_id,
        ro["repair_number"],
        1,
        now,
        ro.get("status", "Active"),
        ro.get("scheduled_arrival"),
        ro.get("scheduled_complete"),
        ro.get("scheduled_delivery"),
        ro.get("obs_event_id"),
        ro.get("rental_car"),
        Decimal(str(ro["total_estimated_hours"])),
        v.get("year"),
        v.get("make"),
        v.get("model"),
        v.get("color"),
        v.get("vin"),
        v.get("license_plate"),
        c.get("first_name"),
        c.get("last_name"),
        c.get("email"),
        c.get("phone_number"),
        ro.get("insurance", {}).get("name"),
        1,
        now,
        now,
    )


def _upsert_people(cur: psycopg.Cursor, body: list[dict], now: datetime) -> dict[tuple[int, str], int]:
    people = {}
    for entry in body:
        for ro in entry["repair_orders"]:
            for m in ro["repair_team"]:
                people[(entry["shop_id"], m["id"])] = (m["first_name"], m["last_name"], m["title"])
    cur.executemany(
        "INSERT INTO repairs_person (shop_id, external_id, first_name, last_name, title, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (shop_id, external_id) DO UPDATE SET "
        "first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name, title = EXCLUDED.title, "
        "updated_at = EXCLUDED.updated_at RETURNING shop_id, external_id, id",
        [(s, e, *names, now) for (s, e), names in people.items()],
        returning=True,
    )
    ids = {}
    while True:
        for shop_id, external_id, pk in cur.fetchall():
            ids[(shop_id, external_id)] = pk
        if not cur.nextset():
            break
    return ids


def _team_rows(body: list[dict], ro_ids: dict, person_ids: dict) -> list[tuple]:
    return [
        (ro_ids[(entry["shop_id"], ro["repair_number"])], person_ids[(entry["shop_id"], m["id"])], pos)
        for entry in body
        for ro in entry["repair_orders"]
        for pos, m in enumerate(ro["repair_team"])
    ]


def insert_executemany(conn: psycopg.Connection, body: list[dict]) -> float:
    started = time.perf_counter()
    now = datetime.now(UTC)
    with conn.transaction(), conn.cursor() as cur:
        person_ids = _upsert_people(cur, body, now)
        rows = [_ro_row(e["shop_id"], ro, now) for e in body for ro in e["repair_orders"]]
        placeholders = ", ".join(["%s"] * len(RO_COLUMNS))
        cur.executemany(
            f"INSERT INTO repairs_repairorder ({', '.join(RO_COLUMNS)}) VALUES ({placeholders}) "
            "RETURNING shop_id, repair_number, id",
            rows,
            returning=True,
        )
        ro_ids = {}
        while True:
            for shop_id, number, pk in cur.fetchall():
                ro_ids[(shop_id, number)] = pk
            if not cur.nextset():
                break
        cur.executemany(
            "INSERT INTO repairs_repairteammember (repair_order_id, person_id, position) VALUES (%s, %s, %s)",
            _team_rows(body, ro_ids, person_ids),
        )
        cur.executemany(
            "INSERT INTO repairs_stagechange (repair_order_id, from_stage_id, to_stage_id, changed_at,"
            " source) VALUES (%s, NULL, 1, %s, 'api')",
            [(pk, now) for pk in ro_ids.values()],
        )
    return time.perf_counter() - started


def insert_copy(conn: psycopg.Connection, body: list[dict]) -> float:
    started = time.perf_counter()
    now = datetime.now(UTC)
    with conn.transaction(), conn.cursor() as cur:
        person_ids = _upsert_people(cur, body, now)
        with cur.copy(f"COPY repairs_repairorder ({', '.join(RO_COLUMNS)}) FROM STDIN") as copy:
            for e in body:
                for ro in e["repair_orders"]:
                    copy.write_row(_ro_row(e["shop_id"], ro, now))
        keys = [(e["shop_id"], ro["repair_number"]) for e in body for ro in e["repair_orders"]]
        cur.execute(
            "SELECT shop_id, repair_number, id FROM repairs_repairorder "
            "WHERE (shop_id, repair_number) IN (SELECT * FROM json_to_recordset(%s) AS x(s int, n text))",
            [json.dumps([{"s": s, "n": n} for s, n in keys])],
        )
        ro_ids = {(s, n): pk for s, n, pk in cur.fetchall()}
        with cur.copy(
            "COPY repairs_repairteammember (repair_order_id, person_id, position) FROM STDIN"
        ) as copy:
            for row in _team_rows(body, ro_ids, person_ids):
                copy.write_row(row)
        with cur.copy(
            "COPY repairs_stagechange (repair_order_id, to_stage_id, changed_at, source) FROM STDIN"
        ) as copy:
            for pk in ro_ids.values():
                copy.write_row((pk, 1, now, "api"))
    return time.perf_counter() - started
