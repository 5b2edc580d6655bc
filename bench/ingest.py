"""1. Batch ingest through the real HTTP stack against raw psycopg inserts, and
5a. how ingest time grows with the ROs per request.

Each repeat POSTs 1,000 new ROs (10 shops, full payloads, teams of 3 drawn
from 50 people per shop), PATCHes the same 1,000, then writes 1,000 other
ROs of the same shape with raw psycopg, once with executemany and once with
COPY: interleaved, so load drifting on a shared machine hits all four alike.
"""

import json
import statistics
import time

import requests

from . import harness, payloads, raw

SHOP_IDS = list(range(101, 111))  # 10 shops


def send(
    server: harness.Server, key: str, method: str, body: list[dict] | bytes
) -> tuple[float, requests.Response]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    started = time.perf_counter()
    response = requests.request(
        method,
        server.url + "/api/v1/repair-orders",
        data=data,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=300,
    )
    elapsed = time.perf_counter() - started
    expected = 201 if method == "POST" else 200
    if response.status_code != expected:
        raise RuntimeError(f"{method} answered {response.status_code}: {response.text[:500]}")
    return elapsed, response


def warm_up(server: harness.Server, key: str, tag: str, size: int = 20) -> None:
    """A few batches, so every worker has imported, connected and filled its caches (and, with a
    full-size batch, grown its heap): what is measured is the steady state, not a cold start."""
    for i in range(2 * server.workers):
        body = payloads.batch(shop_ids=SHOP_IDS, ros_total=size, tag=f"{tag}{i}", seed=100 + i)
        send(server, key, "POST", body)
        send(server, key, "PATCH", payloads.patch_of(body))


def run(database_url: str, server: harness.Server, key: str, *, repeats: int = 3, size: int = 1000) -> dict:
    warm_up(server, key, "warm", size=size)
    post, patch, executemany, copy = [], [], [], []
    post_app, patch_app, post_queries, patch_queries, body_bytes = [], [], set(), set(), 0
    with harness.connect(database_url) as conn:
        for i in range(repeats):
            body = payloads.batch(shop_ids=SHOP_IDS, ros_total=size, tag=f"http{i}", seed=i)
            data = json.dumps(body).encode()
            body_bytes = len(data)
            elapsed, response = send(server, key, "POST", data)
            post.append(elapsed)
            post_app.append(harness.app_ms_of(response))
            post_queries.add(harness.queries_of(response))
            elapsed, response = send(server, key, "PATCH", payloads.patch_of(body, seed=i))
            patch.append(elapsed)
            patch_app.append(harness.app_ms_of(response))
            patch_queries.add(harness.queries_of(response))
            # The same shapes (other numbers), into the same tables, history included.
            executemany.append(
                raw.insert_executemany(
                    conn, payloads.batch(shop_ids=SHOP_IDS, ros_total=size, tag=f"em{i}", seed=i)
                )
            )
            copy.append(
                raw.insert_copy(conn, payloads.batch(shop_ids=SHOP_IDS, ros_total=size, tag=f"cp{i}", seed=i))
            )

    post_s, patch_s = statistics.median(post), statistics.median(patch)
    em_s, copy_s = statistics.median(executemany), statistics.median(copy)
    raw_best = min(em_s, copy_s)
    return {
        "ros": size,
        "shops": len(SHOP_IDS),
        "repeats": repeats,
        "body_kib": round(body_bytes / 1024),
        "post_ms": post_s * 1000,
        "post_ros_per_s": size / post_s,
        "post_server_ms": statistics.median(post_app),
        "patch_ms": patch_s * 1000,
        "patch_ros_per_s": size / patch_s,
        "patch_server_ms": statistics.median(patch_app),
        "executemany_ms": em_s * 1000,
        "executemany_ros_per_s": size / em_s,
        "copy_ms": copy_s * 1000,
        "copy_ros_per_s": size / copy_s,
        "raw_best": "COPY" if copy_s <= em_s else "executemany",
        "ratio_post_to_raw": raw_best / post_s,
        "ratio_patch_to_raw": raw_best / patch_s,
        "post_queries": sorted(post_queries),
        "patch_queries": sorted(patch_queries),
        "post_ms_all": [round(t * 1000, 1) for t in post],
        "copy_ms_all": [round(t * 1000, 1) for t in copy],
    }


def scaling(server: harness.Server, key: str, sizes=(10, 100, 1000), repeats: int = 3) -> list[dict]:
    """POST time by ROs per request (over 10 shops, or fewer for 10 ROs), and the queries it cost."""
    rows = []
    for size in sizes:
        times, server_ms, queries = [], [], set()
        for i in range(repeats):
            shops = SHOP_IDS[: max(1, min(len(SHOP_IDS), size // 10))]
            body = payloads.batch(shop_ids=shops, ros_total=size, tag=f"sc{size}-{i}", seed=1000 + i)
            elapsed, response = send(server, key, "POST", body)
            times.append(elapsed)
            server_ms.append(harness.app_ms_of(response))
            queries.add(harness.queries_of(response))
        t = statistics.median(times)
        rows.append(
            {
                "ros": size,
                "ms": t * 1000,
                "server_ms": statistics.median(server_ms),
                "ms_per_ro": t * 1000 / size,
                "queries": sorted(queries),
            }
        )
    return rows
