"""The scale section's work inside Django (run by `python -m bench.fixtures`):
timing the two periodic jobs' database work, and EXPLAIN (ANALYZE, BUFFERS)
of the very statements the product sends for the board and the RO list.

The statements are caught with connection.execute_wrapper while the real
selectors run, so a plan is always the plan of today's query, not of a copy.
"""

import importlib.util
import inspect
import re
import statistics
import time
from datetime import timedelta
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from integrations.delivery.selectors import lanes_due
from integrations.idempotency import idempotency_purge
from integrations.models import ApiKey
from repairs import selectors
from repairs.selectors import BoardFilter

from .scale_data import IDEMPOTENCY_BODY_SQL

# A table scanned whole in a plan with more rows than this costs what the database holds (at the
# quick size, 1/100, PostgreSQL rightly reads tables of some 10,000 rows whole: only the history counts).
BIG_TABLE_ROWS = 100_000
_SEQ_SCAN = re.compile(r"Seq Scan on (\w+)")


def _expired_records_add(api_key_id: int, count: int, tag: str) -> None:
    """`count` Idempotency-Key answers 25 hours old, for the purge to delete: as wide as the group's
    (bench/scale_data.py). Tiny ones packed 50 to a page in the bench database's fresh table while
    the group's vacuumed table spread them over the holes of its ~700-byte ones (425 pages against
    5,200): the purge compared page counts, not databases."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO integrations_idempotencyrecord (api_key_id, key, method, request_hash, status_code,
                                                        response_body, created_at)
            SELECT %s, %s || n, 'POST', md5(n::text) || md5(n::text), 201,
                   {IDEMPOTENCY_BODY_SQL.replace("%", "%%")}, now() - interval '25 hours'
            FROM generate_series(1, %s) n
            """,
            [api_key_id, tag, count],
        )


def _records_vacuum() -> None:
    """What autovacuum does to the records after each hourly purge (integrations migration
    0008_idempotency_autovacuum), on a PostgreSQL where it is off (the CI's: autovacuum = off):
    without it every earlier purge's rows stay in the created_at index, dead, and each purge walks
    them again, the group's by index (a heap visit each), the bench database's few pages whole."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM integrations_idempotencyrecord")


def ops(*, repeats: int, expired: int, run: str) -> dict:
    """Median ms of the outbox sweep's read and of an idempotency purge deleting `expired` records."""
    api_key_id = ApiKey.objects.filter(name="bench").latest("id").id  # a reused database has one per run
    sweep_ms, purge_ms, due, purged = [], [], set(), set()
    for i in range(repeats + 1):  # the first of each is a warm-up
        started = time.perf_counter()
        ids = list(lanes_due(limit=500))
        if i:
            sweep_ms.append((time.perf_counter() - started) * 1000)
        due.add(len(ids))
        _records_vacuum()
        _expired_records_add(api_key_id, expired, f"{run}-{i}-")
        started = time.perf_counter()
        deleted = idempotency_purge()
        if i:
            purge_ms.append((time.perf_counter() - started) * 1000)
            purged.add(deleted)
    return {
        "sweep_ms": statistics.median(sweep_ms),
        "sweep_due": sorted(due),
        "purge_ms": statistics.median(purge_ms),
        "purged": sorted(purged),
    }


def _statements(work) -> list[tuple[str, tuple]]:
    caught = []

    def catch(execute, sql, params, many, context):
        caught.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(catch):
        work()
    return caught


def _purge_rolled_back() -> None:
    with transaction.atomic():
        idempotency_purge()
        transaction.set_rollback(True)


def _search_supported() -> bool:
    return "q" in inspect.signature(selectors.repair_order_page).parameters


def queries(shop_id: int, q: str) -> dict:
    """The statements of each operation, by name."""
    updated_since = timezone.now() - timedelta(hours=1)
    work = {
        "board: cards and teams": lambda: selectors.board_load(shop_id=shop_id, now=timezone.now()),
        "board poll: change token": lambda: selectors.board_change_token(shop_id=shop_id),
        "RO list: first page": lambda: list(selectors.repair_order_page(shop_id=shop_id, limit=51)),
        "RO list: status + stage": lambda: list(
            selectors.repair_order_page(shop_id=shop_id, limit=51, status="active", stage_id=5)
        ),
        "RO list: updated_since": lambda: list(
            selectors.repair_order_page(shop_id=shop_id, limit=51, updated_since=updated_since)
        ),
        "OBS sweep": lambda: list(lanes_due(limit=500)),
        "idempotency purge": _purge_rolled_back,
    }
    if _search_supported():
        work["RO list: q search"] = lambda: list(selectors.repair_order_page(shop_id=shop_id, limit=51, q=q))
    if importlib.util.find_spec("repairs.deltas"):  # the board's catch-up (issue 13)
        from repairs import deltas, live

        def delta():
            since = max(live.board_version(shop_id=shop_id) - 1, 0)
            deltas.board_delta_load(
                shop_id=shop_id, since=since, now=timezone.now(), board_filter=BoardFilter()
            )

        work["board delta: the last change"] = delta
    return {name: _statements(run) for name, run in work.items()}


def _big_tables() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples > %s", [BIG_TABLE_ROWS]
        )
        return {name for (name,) in cursor.fetchall()}


def _explain(sql: str, params) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = "\n".join(line for (line,) in cursor.fetchall())
        transaction.set_rollback(True)  # EXPLAIN ANALYZE of a DELETE deletes
    return plan


def plans(*, shop_id: int, q: str, output: str, database: str) -> dict:
    """Write the plans of the board's, the list's and the jobs' statements to `output`; per
    operation, the big tables any of its statements read whole (none is the aim)."""
    big = _big_tables()
    lines = [f"# EXPLAIN (ANALYZE, BUFFERS) on {database}: shop {shop_id}", ""]
    verdicts = {}
    for name, statements in queries(shop_id, q).items():
        scanned = set()
        for sql, params in statements:
            if sql.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
                continue
            plan = _explain(sql, params)
            scanned |= set(_SEQ_SCAN.findall(plan)) & big
            lines += [f"## {name}", "", sql, f"-- parameters: {params!r}", "", plan, ""]
        verdicts[name] = sorted(scanned)
    Path(output).write_text("\n".join(lines))
    return {"seq_scanned_big_tables": verdicts, "search_supported": _search_supported()}
