"""2. The board of a shop with 500 Active ROs against the read API's JSON for
the same ROs; 5b. board render by number of cards; 4b. peak RSS of the
server rendering a 2,000-card board.

The shops are filled through the batch API (full payloads, teams of 3), then
their ROs are spread over the 15 stages with one UPDATE (fixture data: no
stage history is written for that), so every column has cards.
"""

import re
import statistics
import time

import redis
import requests

from . import harness, ingest, payloads

BOARD_SHOP = 201  # 500 cards
SCALING_SHOPS = {50: 202, 500: BOARD_SHOP, 2000: 203}
MANAGER = "bench-board"
PASSWORD = "bench-password-not-secret"
JSON_PAGE = 200  # the read API's largest page
POLL = {"HX-Request": "true", "HX-Target": "board"}


def fill_shop(
    server: harness.Server, key: str, database_url: str, shop_id: int, count: int, tag: str
) -> None:
    """`count` Active ROs in the shop, spread over the 15 stages and up to 10 days in their stage."""
    for start in range(0, count, 1000):
        size = min(1000, count - start)
        ingest.send(
            server,
            key,
            "POST",
            payloads.batch(shop_ids=[shop_id], ros_total=size, tag=f"{tag}{start}", seed=shop_id + start),
        )
    with harness.connect(database_url) as conn:
        conn.execute(
            """
            UPDATE repairs_repairorder AS ro
            SET stage_id = spread.stage_id, stage_entered_at = now() - spread.days * interval '1 day'
            FROM (
                SELECT id, (row_number() OVER (ORDER BY id) - 1) %% 15 + 1 AS stage_id,
                       (row_number() OVER (ORDER BY id) * 7) %% 11 AS days
                FROM repairs_repairorder WHERE shop_id = %s
            ) AS spread
            WHERE ro.id = spread.id
            """,
            [shop_id],
        )


def shop_has_cards(database_url: str, shop_id: int, count: int) -> bool:
    """The shop holds `count` ROs already (an earlier run's, --reuse-db)."""
    with harness.connect(database_url) as conn:
        [(ros,)] = conn.execute(
            "SELECT count(*) FROM repairs_repairorder WHERE shop_id = %s", [shop_id]
        ).fetchall()
    return ros == count


def _get(session: requests.Session, url: str, headers: dict | None = None) -> tuple[float, requests.Response]:
    started = time.perf_counter()
    response = session.get(url, headers=headers or {}, timeout=120)
    return (time.perf_counter() - started) * 1000, response


_MORE = re.compile(r'<p class="column__more">\+ ([\d,]+) more')


def board_page(server, session, shop_id: int, headers: dict | None = None) -> dict:
    ms, response = _get(session, f"{server.url}/shops/{shop_id}/board/", headers)
    if response.status_code not in (200, 304):
        raise RuntimeError(f"board of shop {shop_id} answered {response.status_code}")
    return {
        "ms": ms,
        "server_ms": harness.app_ms_of(response),
        "queries": harness.queries_of(response),
        "bytes": len(response.content),
        "wire_bytes": int(response.headers.get("Content-Length", len(response.content))),
        "cards": response.text.count('<article class="card'),
        # A column draws at most repairs.selectors.COLUMN_CARD_LIMIT cards and says "+ N more".
        "more": sum(int(n.replace(",", "")) for n in _MORE.findall(response.text)),
        "status": response.status_code,
        "etag": response.headers.get("ETag", ""),
    }


def json_pages(server, key: str, shop_id: int) -> dict:
    """Every Active RO of the shop through the read API, page by page (200 per page)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    total = {"ms": 0.0, "server_ms": 0.0, "queries": 0, "bytes": 0, "wire_bytes": 0, "pages": 0, "ros": 0}
    cursor = None
    while True:
        url = f"{server.url}/api/v1/shops/{shop_id}/repair-orders?limit={JSON_PAGE}&status=Active"
        ms, response = _get(session, url + (f"&cursor={cursor}" if cursor else ""))
        if response.status_code != 200:
            raise RuntimeError(f"read API answered {response.status_code}: {response.text[:300]}")
        page = response.json()
        total["ms"] += ms
        total["server_ms"] += harness.app_ms_of(response)
        total["queries"] += harness.queries_of(response)
        total["bytes"] += len(response.content)
        total["wire_bytes"] += int(response.headers.get("Content-Length", len(response.content)))
        total["pages"] += 1
        total["ros"] += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return total


def _forget_shared_fragments(shop_id: int) -> None:
    """Drop the cached poll fragments, so the next poll renders (as the first board after a change does)."""
    client = redis.Redis.from_url(harness.bench_redis_url())
    for key in client.scan_iter(f"*board-fragment:{shop_id}:*"):
        client.delete(key)


def _summary(samples: list[dict]) -> dict:
    return {
        "queries": samples[-1]["queries"],
        "ms": statistics.median(s["ms"] for s in samples),
        "server_ms": statistics.median(s["server_ms"] for s in samples),
        "kib": samples[-1]["bytes"] / 1024,
        "wire_kib": samples[-1]["wire_bytes"] / 1024,
    }


def run(server: harness.Server, key: str, *, rounds: int) -> dict:
    session = harness.login(server, MANAGER, PASSWORD)
    for _ in range(2 * server.workers):  # warm every worker: templates compiled, connections open
        board_page(server, session, BOARD_SHOP)
        json_pages(server, key, BOARD_SHOP)
    page, data, poll_fresh, poll_shared, poll_idle = [], [], [], [], []
    for _ in range(rounds):
        page.append(board_page(server, session, BOARD_SHOP))
        data.append(json_pages(server, key, BOARD_SHOP))
        _forget_shared_fragments(BOARD_SHOP)
        poll_fresh.append(board_page(server, session, BOARD_SHOP, POLL))
        poll_shared.append(board_page(server, session, BOARD_SHOP, POLL))
        poll_idle.append(
            board_page(server, session, BOARD_SHOP, {**POLL, "If-None-Match": poll_shared[-1]["etag"]})
        )
    cards = page[-1]["cards"]
    if cards != 500 or data[-1]["ros"] != 500 or poll_idle[-1]["status"] != 304:
        raise RuntimeError(
            f"board showed {cards} cards, JSON {data[-1]['ros']} ROs, idle poll {poll_idle[-1]['status']}"
        )
    rows = [
        {"request": "board page (renders)", **_summary(page)},
        {"request": f"read API JSON, {data[-1]['pages']} pages of ≤{JSON_PAGE}", **_summary(data)},
        {"request": "board poll after a change (renders)", **_summary(poll_fresh)},
        {"request": "board poll, shared rendering", **_summary(poll_shared)},
        {"request": "board poll, nothing changed (304)", **_summary(poll_idle)},
    ]
    board_ms, json_ms = rows[0]["ms"], rows[1]["ms"]
    return {
        "table": rows,
        "cards": cards,
        "rounds": rounds,
        "queries": rows[0]["queries"],
        "poll_queries": rows[2]["queries"],
        "ratio_board_to_json": board_ms / json_ms,
        "ratio_board_to_json_server": rows[0]["server_ms"] / rows[1]["server_ms"],
        "ratio_html_to_json_bytes": rows[0]["kib"] / rows[1]["kib"],
    }


def scaling(server: harness.Server, *, rounds: int) -> list[dict]:
    session = harness.login(server, MANAGER, PASSWORD)
    rows = []
    for cards, shop_id in sorted(SCALING_SHOPS.items()):
        for _ in range(server.workers):
            board_page(server, session, shop_id)
        samples = [board_page(server, session, shop_id) for _ in range(rounds)]
        drawn = samples[-1]["cards"]
        if drawn + samples[-1]["more"] != cards:
            raise RuntimeError(
                f"shop {shop_id} shows {drawn} cards and {samples[-1]['more']} more, not {cards}"
            )
        ms = statistics.median(s["ms"] for s in samples)
        rows.append(
            {
                "cards": cards,
                "drawn": drawn,
                "ms": ms,
                "server_ms": statistics.median(s["server_ms"] for s in samples),
                # Per card drawn: the column limit caps what a bigger shop costs.
                "ms_per_card": ms / drawn,
                "queries": samples[-1]["queries"],
                "kib": samples[-1]["bytes"] / 1024,
            }
        )
    return rows


def memory_peak(database_url: str) -> dict:
    """Peak RSS of one fresh worker rendering the 2,000-card board (after a warm-up on 50 cards)."""
    with harness.Server(database_url, workers=1) as server:
        session = harness.login(server, MANAGER, PASSWORD)
        board_page(server, session, SCALING_SHOPS[50])
        before = server.current_rss_mib()
        page = board_page(server, session, SCALING_SHOPS[2000])
        peak = server.peak_rss_mib()
    html_mib = page["bytes"] / 1024 / 1024
    return {
        "cards": page["cards"],
        "html_mib": html_mib,
        "rss_before_mib": before,
        "peak_rss_mib": peak,
        "peak_growth_mib": peak - before,
        "growth_to_html_ratio": (peak - before) / html_mib,
    }


_CARD = re.compile(
    r'<article class="card[^"]*" id="ro-(\d+)"\s+data-ro-id="\d+" data-stage-id="(\d+)" data-version="(\d+)"'
)


def cards_of(html: str) -> dict[int, tuple[int, int]]:
    """{ro_id: (stage_id, version)} of every card in a board (or card) fragment."""
    return {int(ro): (int(stage), int(version)) for ro, stage, version in _CARD.findall(html)}
