"""6. Flow analytics: the flow API and page of a shop with three years of history, against the
500-card board in the same run; and the cost at 1×, 3× and 10× that history.

The history is generated in PostgreSQL (generate_series, one INSERT … SELECT per
table): every RO goes through the 15 stages in board order, one change per
stage (≈ 15 per RO), cars arriving evenly over three years, ~12 days keys to
keys, some late against their promise. 1,000 other shops hold 2,000,000 stage
changes between them, so the flow shop's rows are a small part of the tables.
"""

import statistics
import time
from datetime import date, timedelta

import requests

from . import board, harness

FLOW_SHOP = 501  # not the moves shop (301): the moves run needs its 500 cards alone
SCALE_SHOPS = {1: FLOW_SHOP, 3: 502, 10: 503}
SHOP_IDS = sorted(SCALE_SHOPS.values())
OTHER_SHOP_START = 5001
YEARS = 3
PERIOD_DAYS = 365


def sizes(quick: bool) -> dict:
    """ROs of the 1× shop, other shops, and ROs per other shop (≈ 15 changes per RO)."""
    if quick:
        return {"ros": 1000, "other_shops": 100, "other_ros_per_shop": 13}
    return {"ros": 20_000, "other_shops": 1000, "other_ros_per_shop": 133}


_SHOPS_SQL = """
INSERT INTO repairs_shop (id, name, days_in_stage_amber, days_in_stage_red, time_zone, created_at)
SELECT g, 'Other ' || g, 3, 7, 'America/Chicago', now() FROM generate_series(%(first)s::int, %(last)s::int) g
ON CONFLICT (id) DO NOTHING
"""

# ROs numbered F1…Fn per shop; arrival of RO g spread evenly over the years up to now.
_ROS_SQL = """
INSERT INTO repairs_repairorder (shop_id, repair_number, stage_id, stage_entered_at, status, scheduled_arrival,
    scheduled_delivery, vehicle_year, vehicle_make, vehicle_model, insurance_name, version, created_at, updated_at)
SELECT s.shop_id, 'F' || g, 1, now(), 'Closed',
       now() - %(span)s::interval + %(span)s::interval * g / s.n,
       now() - %(span)s::interval + %(span)s::interval * g / s.n + interval '1 day' * (9 + g %% 9),
       2015 + g %% 10, 'Ford', 'Focus', 'GEICO', 1, now(), now()
FROM unnest(%(shops)s::int[], %(counts)s::int[]) AS s(shop_id, n), generate_series(1, s.n) AS g
"""

# As the services leave them: each row last written with its last change (below).
# One change per stage position k: created 2 days before arrival, then ~18 h a stage (BODY and
# the wait before pickup longer), only the changes up to now.
_CHANGES_SQL = """
INSERT INTO repairs_stagechange (repair_order_id, from_stage_id, to_stage_id, changed_at, source)
SELECT ro.id, prev.id, st.id, at.changed_at, 'board'
FROM repairs_repairorder ro
CROSS JOIN generate_series(1, 15) AS k
JOIN repairs_stage st ON st.position = k
LEFT JOIN repairs_stage prev ON prev.position = k - 1
CROSS JOIN LATERAL (
    SELECT CASE WHEN k = 1 THEN ro.scheduled_arrival - interval '2 days'
           ELSE ro.scheduled_arrival + interval '1 hour' * (
               (k - 2) * 18 + (ro.id * 31 + k * 17) %% 13 + CASE WHEN k >= 8 THEN 30 ELSE 0 END
               + CASE WHEN k >= 15 THEN 24 ELSE 0 END + CASE WHEN ro.id %% 5 = 0 AND k >= 8 THEN 60 ELSE 0 END)
           END AS changed_at
) AS at
WHERE ro.shop_id = ANY(%(shops)s) AND at.changed_at <= now()
"""

_CURRENT_SQL = """
UPDATE repairs_repairorder ro SET stage_id = last.to_stage_id, stage_entered_at = last.changed_at,
    updated_at = last.changed_at, status = CASE WHEN last.to_stage_id = 14 THEN 'Closed' ELSE 'Active' END
FROM (
    SELECT DISTINCT ON (sc.repair_order_id) sc.repair_order_id, sc.to_stage_id, sc.changed_at
    FROM repairs_stagechange sc JOIN repairs_repairorder r ON r.id = sc.repair_order_id
    WHERE r.shop_id = ANY(%(shops)s)
    ORDER BY sc.repair_order_id, sc.changed_at DESC, sc.id DESC
) AS last
WHERE ro.id = last.repair_order_id
"""


def fill(database_url: str, *, quick: bool) -> dict:
    """The flow shops and the other shops with their histories; returns what was written and how fast."""
    size = sizes(quick)
    others = list(range(OTHER_SHOP_START, OTHER_SHOP_START + size["other_shops"]))
    started = time.perf_counter()
    with harness.connect(database_url) as conn:
        # A throw-away database: foreign-key triggers off while generating (the rows reference real ids).
        conn.execute("SET session_replication_role = replica")
        conn.execute(_SHOPS_SQL, {"first": others[0], "last": others[-1]})
        conn.execute("UPDATE repairs_shop SET time_zone = 'America/Chicago' WHERE id = ANY(%s)", [SHOP_IDS])
        span = f"{YEARS * 365} days"
        groups = [
            (SHOP_IDS, [size["ros"] * scale for scale in SCALE_SHOPS]),
            (others, [size["other_ros_per_shop"]] * len(others)),
        ]
        for shops, counts in groups:
            conn.execute(_ROS_SQL, {"shops": shops, "counts": counts, "span": span})
            conn.execute(_CHANGES_SQL, {"shops": shops})
            conn.execute(_CURRENT_SQL, {"shops": shops})
        conn.commit()
    generated_s = time.perf_counter() - started
    # Written around the writers, so the summaries are computed here, every shop's, as the
    # migration would have from a database holding this history.
    started = time.perf_counter()
    harness.fixtures("flow_summaries", database_url)
    summaries_s = time.perf_counter() - started
    with harness.connect(database_url) as conn:
        conn.autocommit = True
        for table in (
            "repairs_repairorder",
            "repairs_stagechange",
            "repairs_flowvisit",
            "repairs_flowdelivery",
        ):
            # As autovacuum would after a bulk load (the visibility map lets the flow statements'
            # index-only scans skip the heap); the bench's PostgreSQL may run with autovacuum off.
            conn.execute(f"VACUUM (ANALYZE) {table}")
    return {**_counts(database_url, size), "generate_s": generated_s, "summaries_s": summaries_s}


def generated(database_url: str, *, quick: bool) -> dict | None:
    """What an earlier run generated in this database (`--reuse-db`), or None if it holds no flow
    history of this size (then fill() writes it)."""
    size = sizes(quick)
    with harness.connect(database_url) as conn:
        [(ros,)] = conn.execute(
            "SELECT count(*) FROM repairs_repairorder WHERE shop_id = %s", [FLOW_SHOP]
        ).fetchall()
    if ros != size["ros"]:
        return None
    return {**_counts(database_url, size), "generate_s": None, "summaries_s": None, "reused": True}


def _counts(database_url: str, size: dict) -> dict:
    with harness.connect(database_url) as conn:
        counts = dict(conn.execute(
            """SELECT ro.shop_id = ANY(%s), count(*) FROM repairs_stagechange sc
               JOIN repairs_repairorder ro ON ro.id = sc.repair_order_id GROUP BY 1""", [SHOP_IDS]
        ).fetchall())  # fmt: skip
        flow_changes = dict(conn.execute(
            """SELECT ro.shop_id, count(*) FROM repairs_stagechange sc
               JOIN repairs_repairorder ro ON ro.id = sc.repair_order_id WHERE ro.shop_id = ANY(%s) GROUP BY 1""",
            [SHOP_IDS],
        ).fetchall())  # fmt: skip
    return {
        "flow_shop_ros": size["ros"],
        "flow_shop_changes": flow_changes[FLOW_SHOP],
        "other_shops": size["other_shops"],
        "other_changes": counts.get(False, 0),
        "all_changes": sum(counts.values()),
    }


def _get(session: requests.Session, url: str) -> dict:
    started = time.perf_counter()
    response = session.get(url, timeout=120)
    ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")
    return {
        "ms": ms,
        "server_ms": harness.app_ms_of(response),
        "queries": harness.queries_of(response),
        "kib": len(response.content) / 1024,
        "response": response,
    }


def _median(samples: list[dict], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def _period(today: date) -> str:
    return f"from={today - timedelta(days=PERIOD_DAYS - 1)}&to={today}"


def run(server: harness.Server, key: str, *, rounds: int, generated: dict) -> dict:
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {key}"
    page_session = harness.login(server, board.MANAGER, board.PASSWORD)
    today = date.fromisoformat(
        _get(api, f"{server.url}/api/v1/shops/{FLOW_SHOP}/flow")["response"].json()["to"]
    )
    period = _period(today)
    api_url = f"{server.url}/api/v1/shops/{FLOW_SHOP}/flow?{period}"
    page_url = f"{server.url}/shops/{FLOW_SHOP}/flow/?{period}"
    csv_url = f"{server.url}/shops/{FLOW_SHOP}/flow/delivered.csv?{period}"
    for _ in range(2 * server.workers):  # warm every worker
        (
            _get(api, api_url),
            _get(page_session, page_url),
            board.board_page(server, page_session, board.BOARD_SHOP),
        )
    flow_api, flow_page, flow_csv, boards = [], [], [], []
    for _ in range(rounds):
        flow_api.append(_get(api, api_url))
        flow_page.append(_get(page_session, page_url))
        flow_csv.append(_get(page_session, csv_url))
        rendered = board.board_page(server, page_session, board.BOARD_SHOP)
        boards.append({**rendered, "kib": rendered["bytes"] / 1024})
    delivered = flow_api[-1]["response"].json()["delivered"]
    if flow_csv[-1]["response"].text.count("\n") != delivered + 1:
        raise RuntimeError("the CSV does not list the API's delivered ROs")
    board_ms = _median(boards, "ms")
    rows = [
        {"request": f"flow API, {PERIOD_DAYS} days", **_summary(flow_api)},
        {"request": f"flow page, {PERIOD_DAYS} days", **_summary(flow_page)},
        {"request": f"delivered CSV, {PERIOD_DAYS} days", **_summary(flow_csv)},
        {"request": "board of 500 cards (same run)", **_summary(boards)},
    ]
    return {
        "table": rows,
        **generated,
        "delivered_in_period": delivered,
        "rounds": rounds,
        "api_queries": flow_api[-1]["queries"],
        "page_queries": flow_page[-1]["queries"],
        "ratio_api_to_board": _median(flow_api, "ms") / board_ms,
        "ratio_page_to_board": _median(flow_page, "ms") / board_ms,
        "ratio_api_to_board_server": _median(flow_api, "server_ms") / _median(boards, "server_ms"),
        "ratio_page_to_board_server": _median(flow_page, "server_ms") / _median(boards, "server_ms"),
    }


def _summary(samples: list[dict]) -> dict:
    return {
        "ms": _median(samples, "ms"),
        "server_ms": _median(samples, "server_ms"),
        "queries": samples[-1]["queries"],
        "kib": samples[-1]["kib"],
    }


def scaling(server: harness.Server, key: str, *, rounds: int) -> list[dict]:
    """The flow API for the same 365 days at 1×, 3× and 10× the history (ROs per day)."""
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {key}"
    rows = []
    for scale, shop_id in sorted(SCALE_SHOPS.items()):
        first = _get(api, f"{server.url}/api/v1/shops/{shop_id}/flow")
        url = f"{server.url}/api/v1/shops/{shop_id}/flow?{_period(date.fromisoformat(first['response'].json()['to']))}"
        _get(api, url)  # warm
        samples = [_get(api, url) for _ in range(rounds)]
        delivered = samples[-1]["response"].json()["delivered"]
        ms = _median(samples, "ms")
        rows.append({
            "history": f"{scale}×",
            "scale": scale,
            "delivered": delivered,
            "ms": ms,
            "server_ms": _median(samples, "server_ms"),
            "queries": samples[-1]["queries"],
            "ms_per_delivered": ms / delivered,
        })  # fmt: skip
    return rows
