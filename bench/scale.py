"""6. Scale: each operation of one ordinary shop in a database holding a whole
shop group (10,000 shops, 1,000,000 ROs, 10,000,000 stage changes; quick:
1/100 of it) against the same operation in the bench's own, nearly empty
database. Runs only when asked for (`--sections scale`).

Both databases hold the same ordinary shops, filled the same way (the board
shop's 500 Active ROs through the batch API, the same 50 OBS notifications
due for the sweep); the group's rows are generated inside PostgreSQL
(scale_data.py). Two single-worker gunicorns, one per database, answer the
same requests in turn, round after round, in alternating order, so load
drifting on a shared machine hits both alike; the ratio of the medians is
the figure. The two periodic jobs (OBS sweep, idempotency purge) run in a
Django process per database and round (scale_probe.py), which also saves the
EXPLAIN (ANALYZE, BUFFERS) plans of the board's and the list's statements to
bench/out/.
"""

import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
import requests

from . import board, harness, ingest, payloads, scale_data

SHOP = board.BOARD_SHOP
CARDS = 500
DUE_NOTIFICATIONS = 50  # OBS notifications of the board shop the sweep finds due, in both databases
SEARCH = "00042"  # an RO number fragment (and the customer's name and email): one RO of the 500
DATABASES = ("empty", "large")


def large_database_url(url: str) -> str:
    parsed = urlparse(url)
    return urlunparse(parsed._replace(path=parsed.path + "_scale"))


def drop_database(url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(harness._conninfo(harness._admin_url(url)), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def generate_large(url: str, size: scale_data.Size, setup: dict) -> tuple[str, dict]:
    """A fresh database with the group generated, then the bench's own shops and key as in the empty one."""
    print(f"Generating {size.label()} in {urlparse(url).path.lstrip('/')} ...", flush=True)
    started = time.perf_counter()
    harness.recreate_database(url)
    with harness.connect(url) as conn:
        tables = scale_data.generate(conn, size)
    generate_s = time.perf_counter() - started
    vacuum_s = scale_data.vacuum_analyze(url)
    key = harness.fixtures("setup", url, **setup)["key"]
    return key, {"generate_s": generate_s, "vacuum_analyze_s": vacuum_s, "tables": tables}


def _due_notifications_add(url: str) -> None:
    """The same OBS backlog in both databases: 50 of the board shop's notifications due for the sweep."""
    with harness.connect(url) as conn:
        conn.execute(
            """
            INSERT INTO integrations_notification (repair_order_id, obs_event_id, stage_id, state, created_at,
                                                   updated_at, next_attempt_at, attempt_count, last_error)
            SELECT id, obs_event_id, stage_id, 'pending', now() - interval '10 minutes',
                   now() - interval '10 minutes', now() - interval '5 minutes', 1, 'OBS answered 503'
            FROM repairs_repairorder WHERE shop_id = %s ORDER BY repair_number LIMIT %s
            """,
            [SHOP, DUE_NOTIFICATIONS],
        )
        conn.execute("ANALYZE")


def _timed_get(session: requests.Session, url: str) -> tuple[float, requests.Response]:
    started = time.perf_counter()
    response = session.get(url, timeout=120)
    ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}: {response.text[:300]}")
    return ms, response


class Target:
    """One database's server, signed-in board session and API session."""

    def __init__(self, name: str, server: harness.Server, key: str):
        self.name = name
        self.server = server
        self.board = harness.login(server, board.MANAGER, board.PASSWORD)
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"Bearer {key}"
        self.key = key
        self.etag = ""

    def list_url(self, query: str) -> str:
        return f"{self.server.url}/api/v1/shops/{SHOP}/repair-orders?{query}"


def search_supported(target: Target) -> bool:
    """Whether the read API knows `q` (SPEC §4): a word no RO has must find nothing."""
    _, response = _timed_get(target.api, target.list_url("q=no-such-ro-anywhere&limit=1"))
    return response.json()["items"] == []


def _operations(search: bool, ros: int) -> dict:
    """name -> function(target, round) returning (ms, server_ms, queries)."""

    def page(target, headers=None):
        return board.board_page(target.server, target.board, SHOP, headers)

    def board_render(target, _):
        sample = page(target)
        if sample["cards"] != CARDS:
            raise RuntimeError(f"{target.name}: the board shows {sample['cards']} cards, not {CARDS}")
        return sample["ms"], sample["server_ms"], sample["queries"]

    def poll_unchanged(target, _):
        sample = page(target, {**board.POLL, "If-None-Match": target.etag})
        if sample["status"] == 200:  # the ETag's clock bucket turned (or the first poll): ask again
            target.etag = sample["etag"]
            sample = page(target, {**board.POLL, "If-None-Match": target.etag})
        if sample["status"] != 304:
            raise RuntimeError(f"{target.name}: an unchanged board's poll answered {sample['status']}")
        return sample["ms"], sample["server_ms"], sample["queries"]

    def poll_render(target, _):
        board._forget_shared_fragments(SHOP)
        sample = page(target, board.POLL)
        return sample["ms"], sample["server_ms"], sample["queries"]

    def listing(query):
        def run(target, _):
            ms, response = _timed_get(target.api, target.list_url(query))
            return ms, harness.app_ms_of(response), harness.queries_of(response)

        return run

    def list_all(target, _):
        total = board.json_pages(target.server, target.key, SHOP)
        return total["ms"], total["server_ms"], total["queries"]

    def batch(method):
        def run(target, round_no):
            body = payloads.batch(
                shop_ids=ingest.SHOP_IDS, ros_total=ros, tag=f"sc-{target.name}-{round_no}", seed=round_no
            )
            if method == "PATCH":
                body = payloads.patch_of(body, seed=round_no)
            seconds, response = ingest.send(target.server, target.key, method, body)
            return seconds * 1000, harness.app_ms_of(response), harness.queries_of(response)

        return run

    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    operations = {
        "board page (renders)": board_render,
        "board poll, nothing changed (304)": poll_unchanged,
        "board poll after a change (renders)": poll_render,
        "RO list, first page of 50": listing("limit=50"),
        "RO list, status + stage_id": listing("status=Active&stage_id=5&limit=50"),
        "RO list, updated_since": listing(f"updated_since={since}&limit=50"),
        "RO list, all 500 (3 pages)": list_all,
    }
    if search:
        operations["RO list, q search"] = listing(f"q={SEARCH}&limit=50")
    operations[f"batch POST {ros:,} ROs"] = batch("POST")
    operations[f"batch PATCH {ros:,} ROs"] = batch("PATCH")
    return operations


def _rows(samples: dict) -> list[dict]:
    rows = []
    for name, by_db in samples.items():
        empty, large = by_db["empty"], by_db["large"]
        empty_ms = statistics.median(s[0] for s in empty)
        large_ms = statistics.median(s[0] for s in large)
        rows.append(
            {
                "operation": name,
                "empty_ms": empty_ms,
                "large_ms": large_ms,
                "ratio": large_ms / empty_ms,
                "empty_server_ms": statistics.median(s[1] for s in empty),
                "large_server_ms": statistics.median(s[1] for s in large),
                "queries": sorted({s[2] for s in large}),
            }
        )
    return rows


def run(
    url: str, *, setup: dict, key: str, quick: bool, rounds: int, ros: int, keep: bool, plans_dir: Path
) -> tuple[dict, dict]:
    """The comparison, and what was generated."""
    size = scale_data.QUICK if quick else scale_data.FULL
    url_large = large_database_url(url)
    key_large, generated = generate_large(url_large, size, setup)
    urls = {"empty": url, "large": url_large}
    keys = {"empty": key, "large": key_large}
    try:
        with (
            harness.Server(url, workers=1) as empty_server,
            harness.Server(url_large, workers=1) as large_server,
        ):
            servers = {"empty": empty_server, "large": large_server}
            board.fill_shop(large_server, key_large, url_large, SHOP, CARDS, tag=f"b{CARDS}-")
            for db in DATABASES:
                _due_notifications_add(urls[db])
            targets = {db: Target(db, servers[db], keys[db]) for db in DATABASES}
            search = search_supported(targets["empty"])
            operations = _operations(search, ros)
            for target in targets.values():  # warm-up: templates compiled, connections open, caches filled
                for name, operation in operations.items():
                    operation(target, -1 if "batch" in name else 0)
            samples = {name: {db: [] for db in DATABASES} for name in operations}
            jobs = {db: [] for db in DATABASES}
            for round_no in range(rounds):
                order = DATABASES if round_no % 2 == 0 else DATABASES[::-1]
                for db in order:
                    for name, operation in operations.items():
                        for _ in range(1 if "batch" in name or "all 500" in name else 3):
                            samples[name][db].append(operation(targets[db], round_no))
                    jobs[db].append(
                        harness.fixtures(
                            "scale_ops",
                            urls[db],
                            repeats=3,
                            expired=size.idempotency_expired,
                            run=f"{db}{round_no}",
                        )
                    )
        rows = _rows(samples)
        for job, label, count in (
            ("sweep", f"OBS sweep read ({DUE_NOTIFICATIONS} due)", "sweep_due"),
            ("purge", f"idempotency purge ({size.idempotency_expired:,} expired)", "purged"),
        ):
            empty_ms = statistics.median(j[f"{job}_ms"] for j in jobs["empty"])
            large_ms = statistics.median(j[f"{job}_ms"] for j in jobs["large"])
            counts = {c for db in DATABASES for j in jobs[db] for c in j[count]}
            if len(counts) != 1:
                raise RuntimeError(f"{job}: the two databases did different work: {counts}")
            rows.append(
                {"operation": label, "empty_ms": empty_ms, "large_ms": large_ms, "ratio": large_ms / empty_ms,
                 "empty_server_ms": empty_ms, "large_server_ms": large_ms, "queries": [1]}
            )  # fmt: skip
        plans = {}
        for db in DATABASES:
            output = plans_dir / f"scale-plans-{db}.txt"
            plans[db] = harness.fixtures(
                "scale_plans", urls[db], shop_id=SHOP, q=SEARCH, output=str(output), database=f"{db} database"
            )
        with harness.connect(url_large) as conn:
            tables = scale_data.table_sizes(conn)
            database_mib = scale_data.database_mib(conn)
    finally:
        if not keep:
            drop_database(url_large)
    worst = max(rows, key=lambda r: r["ratio"])
    result = {
        "table": rows,
        "size": size.label(),
        "rounds": rounds,
        "search": "q" if search else "q not on this branch: list measured with stage/status/updated_since",
        "worst_ratio": worst["ratio"],
        "worst_operation": worst["operation"],
        "seq_scans_large": {k: v for k, v in plans["large"]["seq_scanned_big_tables"].items() if v},
        "plans": f"{plans_dir.name}/scale-plans-large.txt, {plans_dir.name}/scale-plans-empty.txt",
    }
    data = {
        "table": [
            {**t, "generated_rows": next((g["rows"] for g in generated["tables"] if g["table"] == t["table"]), "–"),
             "generate_s": next((g["seconds"] for g in generated["tables"] if g["table"] == t["table"]), "–")}
            for t in tables
        ],
        "database_mib": database_mib,
        "generate_s": generated["generate_s"],
        "vacuum_analyze_s": generated["vacuum_analyze_s"],
        "kept": url_large if keep else "dropped after the run",
    }  # fmt: skip
    return result, data
