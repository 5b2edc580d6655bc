"""The shop group of the scale section, generated inside PostgreSQL.

Every table is filled by one `INSERT … SELECT … FROM generate_series` (no row
crosses the wire), with explicit ids so rows can point at each other by
arithmetic; the identity sequences are moved past them afterwards, and the
product then adds its own rows (the bench's ordinary shops) as usual.

Proportions (per shop, full size): 100 ROs of which the newest 15 % are
Active (the board) and the rest closed, 10 stage changes per RO, a team of 3
drawn from 20 people, an OBS event on every 5th RO with one outbox row per
stage change after the first (mostly delivered, each with its attempt; a few
retrying or failed), 3 users, one API key, and 52 Idempotency-Key answers
spread over the last 25 hours (50 batches a day; the oldest hour is due for
the purge). Generated shops have ids from 100,001, clear of the bench's own.
"""

import re
import time
from dataclasses import dataclass

import psycopg

FIRST_SHOP = 100_000  # generated shop n has id FIRST_SHOP + n
PEOPLE_PER_SHOP = 20
USERS_PER_SHOP = 3
ACTIVE_SHARE = 0.15
OBS_EVERY = 5  # every 5th RO came from OBS
IDEMPOTENCY_PER_SHOP = 52  # 25 hours of 50 keyed batches a day
IDEMPOTENCY_HOURS = 25


@dataclass(frozen=True)
class Size:
    shops: int
    ros: int
    changes: int

    @property
    def changes_per_ro(self) -> int:
        return self.changes // self.ros

    @property
    def idempotency_records(self) -> int:
        return self.shops * IDEMPOTENCY_PER_SHOP

    @property
    def idempotency_expired(self) -> int:
        """Records older than the 24 h retention: what one purge deletes."""
        return self.idempotency_records // IDEMPOTENCY_HOURS

    def label(self) -> str:
        return f"{self.shops:,} shops, {self.ros:,} ROs, {self.changes:,} stage changes"


FULL = Size(shops=10_000, ros=1_000_000, changes=10_000_000)
QUICK = Size(shops=100, ros=10_000, changes=100_000)

_FIRST_NAMES = "ARRAY['Ana','Ben','Carla','Dev','Eli','Fay','Gus','Hana','Ivan','Jo']"

# A stored batch answer (~700 bytes) of record n: the group's records and the ones the scale probe
# adds for the purge have the same size, so both databases' purges delete rows of the same width.
IDEMPOTENCY_BODY_SQL = (
    """convert_to('{"count": 20, "repair_orders": [' || repeat('{"shop_id": 1, "stage_id": 1}, ', 20)"""
    " || md5(n::text) || ']}', 'UTF8')"
)

# (table, statement). Parameters: shops, ros, k (changes per RO), people, users, active_from, obs,
# idem, idem_hours, first_shop.
STEPS = [
    (
        "repairs_shop",
        """
        INSERT INTO repairs_shop (id, name, days_in_stage_amber, days_in_stage_red, created_at, time_zone)
        SELECT %(first_shop)s + s, 'Group shop ' || s, 3, 7, now() - interval '3 years',
               (ARRAY['America/New_York','America/Chicago','America/Denver','America/Los_Angeles'])[1 + s %% 4]
        FROM generate_series(1, %(shops)s) s
        """,
    ),
    (
        "repairs_person",
        f"""
        INSERT INTO repairs_person (id, shop_id, external_id, first_name, last_name, title, updated_at)
        SELECT (s - 1) * %(people)s + k, %(first_shop)s + s, 'E' || k,
               ({_FIRST_NAMES})[1 + (s * 7 + k) %% 10], 'Surname' || ((s * 13 + k) %% 997),
               'Technician', now() - k * interval '1 day'
        FROM generate_series(1, %(shops)s) s, generate_series(1, %(people)s) k
        """,
    ),
    (
        # RO i belongs to shop 1 + (i - 1) % shops: shops write side by side, as in life, so
        # one shop's rows are spread over the whole table. Created over 3 years, oldest first.
        "repairs_repairorder",
        """
        INSERT INTO repairs_repairorder (
            id, shop_id, repair_number, stage_id, stage_entered_at, status,
            scheduled_arrival, scheduled_complete, scheduled_delivery, obs_event_id, rental_car,
            total_estimated_hours, vehicle_year, vehicle_make, vehicle_model, vehicle_color,
            vehicle_vin, vehicle_license_plate, customer_first_name, customer_last_name,
            customer_email, customer_phone_number, insurance_name, version, created_at, updated_at)
        SELECT i, %(first_shop)s + 1 + (i - 1) %% %(shops)s, 'R' || ((i - 1) / %(shops)s + 1),
               CASE WHEN active THEN 1 + i %% 15 ELSE 15 END,
               created + interval '2 days',
               CASE WHEN active THEN 'Active' WHEN i %% 7 = 0 THEN 'Delivered' ELSE 'Closed' END,
               created, created + interval '9 days', created + interval '10 days',
               CASE WHEN i %% %(obs)s = 0 THEN 'OBS-' || i END, i %% 2 = 0, 4 + (i %% 80) / 2.0,
               2000 + i %% 26, (ARRAY['Toyota','Honda','Ford','Chevrolet','Tesla'])[1 + i %% 5],
               (ARRAY['Camry','Civic','F-150','Silverado','Model 3'])[1 + i %% 5],
               (ARRAY['Red','Blue','Black','White','Silver'])[1 + i %% 5],
               upper(substr(md5(i::text), 1, 17)), 'PL' || (i %% 100000),
               'Customer', 'Family' || (i %% 50021), 'c' || i || '@example.com',
               '555' || lpad((i %% 10000000)::text, 7, '0'),
               (ARRAY['State Farm','GEICO','Progressive','Allstate'])[1 + i %% 4],
               %(k)s, created, CASE WHEN active THEN now() - (i %% 240) * interval '1 hour'
                                    ELSE created + interval '12 days' END
        FROM (
            SELECT i, i > %(active_from)s AS active,
                   now() - (%(ros)s - i) * (interval '1095 days' / %(ros)s) AS created
            FROM generate_series(1, %(ros)s) i
        ) g
        """,
    ),
    (
        "repairs_repairteammember",
        """
        INSERT INTO repairs_repairteammember (id, repair_order_id, person_id, position)
        SELECT (i - 1) * 3 + p + 1, i,
               ((i - 1) %% %(shops)s) * %(people)s + 1 + (i * 7 + p * 5) %% %(people)s, p
        FROM generate_series(1, %(ros)s) i, generate_series(0, 2) p
        """,
    ),
    (
        "repairs_stagechange",
        """
        INSERT INTO repairs_stagechange (id, repair_order_id, from_stage_id, to_stage_id, changed_at,
                                         changed_by_id, source)
        SELECT (i - 1) * %(k)s + j + 1, i, CASE WHEN j > 0 THEN least(j, 15) END, least(j + 1, 15),
               now() - (%(ros)s - i) * (interval '1095 days' / %(ros)s) + j * interval '6 hours',
               NULL, CASE WHEN j = 0 THEN 'api' ELSE 'board' END
        FROM generate_series(1, %(ros)s) i, generate_series(0, %(k)s - 1) j
        """,
    ),
    (
        # One outbox row per stage change of an OBS RO after its creation: delivered, but
        # the newest of every 1,000th OBS RO is retrying (not due for an hour) and of every
        # 2,000th failed.
        "integrations_message",
        """
        INSERT INTO integrations_message (
            id, destination, public_id, event_type, body, repair_order_id, stage_change_id, obs_event_id,
            stage_id, state, created_at, updated_at, next_attempt_at, attempt_count, last_error, delivered_at)
        SELECT (i / %(obs)s - 1) * (%(k)s - 1) + j, 'obs', 'msg_' || md5(i || '.' || j),
               'repair_order.stage_changed', '', i, (i - 1) * %(k)s + j + 1, 'OBS-' || i,
               least(j + 1, 15), state, at, at + interval '1 second',
               CASE WHEN state = 'pending' THEN now() + interval '1 hour' END,
               CASE WHEN state = 'delivered' THEN 1 ELSE 3 END,
               CASE WHEN state = 'delivered' THEN '' ELSE 'OBS answered 503' END,
               CASE WHEN state = 'delivered' THEN at + interval '1 second' END
        FROM (
            SELECT i, j,
                   now() - (%(ros)s - i) * (interval '1095 days' / %(ros)s) + j * interval '6 hours' AS at,
                   CASE WHEN j = %(k)s - 1 AND i %% (%(obs)s * 2000) = 0 THEN 'failed'
                        WHEN j = %(k)s - 1 AND i %% (%(obs)s * 1000) = 0 THEN 'pending'
                        ELSE 'delivered' END AS state
            FROM generate_series(%(obs)s, %(ros)s, %(obs)s) i, generate_series(1, %(k)s - 1) j
        ) g
        """,
    ),
    (
        "integrations_attempt",
        """
        INSERT INTO integrations_attempt (id, message_id, attempted_at, http_status, error, response_excerpt,
                                          duration_ms)
        SELECT id, id, delivered_at - interval '1 second', 200, '', '', 40 + id %% 200
        FROM integrations_message WHERE state = 'delivered'
        """,
    ),
    (
        "auth_user",
        """
        INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff,
                               is_active, date_joined)
        SELECT n, '!', false, 'group-user-' || n, '', '', '', false, true, now() - interval '1 year'
        FROM generate_series(1, %(shops)s * %(users)s) n
        """,
    ),
    (
        "repairs_membership",
        """
        INSERT INTO repairs_membership (id, user_id, shop_id, role)
        SELECT n, n, %(first_shop)s + 1 + (n - 1) / %(users)s,
               (ARRAY['manager','estimator','viewer'])[1 + (n - 1) %% 3]
        FROM generate_series(1, %(shops)s * %(users)s) n
        """,
    ),
    (
        "integrations_apikey",
        """
        INSERT INTO integrations_apikey (id, name, prefix, hashed_key, created_at)
        SELECT s, 'Group key ' || s, 'g' || lpad(s::text, 7, '0'), md5('a' || s) || md5('b' || s),
               now() - interval '1 year'
        FROM generate_series(1, %(shops)s) s
        """,
    ),
    (
        "integrations_apikey_shops",
        """
        INSERT INTO integrations_apikey_shops (id, apikey_id, shop_id)
        SELECT s, s, %(first_shop)s + s FROM generate_series(1, %(shops)s) s
        """,
    ),
    (
        "integrations_idempotencyrecord",
        f"""
        INSERT INTO integrations_idempotencyrecord (id, api_key_id, key, method, request_hash, status_code,
                                                    response_body, created_at)
        SELECT n, 1 + n %% %(shops)s, 'batch-' || n, CASE WHEN n %% 3 = 0 THEN 'PATCH' ELSE 'POST' END,
               md5('r' || n) || md5('q' || n), 201, {IDEMPOTENCY_BODY_SQL.replace("%", "%%")},
               now() - n * (interval '1 hour' * %(idem_hours)s / %(idem)s)
        FROM generate_series(1, %(idem)s) n
        """,
    ),
]


def params(size: Size) -> dict:
    return {
        "shops": size.shops,
        "ros": size.ros,
        "k": size.changes_per_ro,
        "people": PEOPLE_PER_SHOP,
        "users": USERS_PER_SHOP,
        "active_from": int(size.ros * (1 - ACTIVE_SHARE)),
        "obs": OBS_EVERY,
        "idem": size.idempotency_records,
        "idem_hours": IDEMPOTENCY_HOURS,
        "first_shop": FIRST_SHOP,
    }


def generate(conn: psycopg.Connection, size: Size) -> list[dict]:
    """Fill an empty, migrated database; returns per table its rows and seconds."""
    report = []
    values = params(size)
    conn.autocommit = True  # one transaction per table: a table's time includes its commit
    conn.execute("SET synchronous_commit = off")
    # The foreign keys' triggers would check ~35 M references one by one at commit (~6 min at full
    # size); one anti-join per reference afterwards (references_check) proves the same in seconds.
    # Needs a superuser, as the bench's PostgreSQL has; otherwise the triggers check as usual.
    try:
        conn.execute("SET session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        pass
    for table, statement in STEPS:
        started = time.perf_counter()
        with conn.transaction():
            # Every parameter is an integer; psycopg would send small ones as smallint.
            rows = conn.execute(re.sub(r"%\((\w+)\)s", r"%(\1)s::int", statement), values).rowcount
        seconds = time.perf_counter() - started
        report.append({"table": table, "rows": rows, "seconds": round(seconds, 1)})
        print(f"  {table}: {rows:,} rows in {seconds:.1f} s", flush=True)
    for table, _ in STEPS:
        if table != "repairs_shop":  # shop ids are the source systems', not a sequence's
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
    return report


def retries_postpone(conn: psycopg.Connection, size: Size) -> int:
    """The group's retrying notifications not due for an hour again, as when generated: a group
    reused more than an hour later would otherwise hand the sweep ~100 more due ROs than the
    bench database's 50 (at full size). Returns how many."""
    return conn.execute(
        "UPDATE integrations_message SET next_attempt_at = now() + interval '1 hour' "
        "WHERE destination = 'obs' AND state = 'pending' AND repair_order_id <= %s",
        [size.ros],
    ).rowcount


def vacuum_analyze(url: str) -> float:
    """What autovacuum would have done by the time such a group runs: statistics and visibility maps."""
    from . import harness

    started = time.perf_counter()
    with psycopg.connect(harness._conninfo(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    return time.perf_counter() - started


def table_sizes(conn: psycopg.Connection) -> list[dict]:
    rows = conn.execute(
        """
        SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid), pg_indexes_size(c.oid)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.reltuples > 1000
        ORDER BY pg_total_relation_size(c.oid) DESC
        """
    ).fetchall()
    return [
        {"table": name, "rows": rows, "total_mib": total / 2**20, "indexes_mib": indexes / 2**20}
        for name, rows, total, indexes in rows
    ]


def database_mib(conn: psycopg.Connection) -> float:
    return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0] / 2**20
