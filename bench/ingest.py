"""Batch ingest through the real HTTP stack against raw psycopg inserts."""

import json
import statistics
import time

import requests

from . import harness, payloads, raw

SHOP_IDS = list(range(101, 111))  # 10 shops


def setup_shops(database_url: str) -> str:
    for shop_id in SHOP_IDS:
        harness.manage("create_shop", "--id", str(shop_id), "--name", f"Bench {shop_id}", database_url=database_url)
    args = ["create_api_key", "bench"]
    for shop_id in SHOP_IDS:
        args += ["--shop", str(shop_id)]
    return harness.manage(*args, database_url=database_url).strip()


def send(server: harness.Server, key: str, method: str, body: list[dict] | bytes) -> tuple[float, requests.Response]:
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


def run(database_url: str, server: harness.Server, key: str, *, repeats: int = 3, size: int = 1000) -> dict:
    posts, patches, queries = [], [], set()
    for i in range(repeats):
        body = payloads.batch(shop_ids=SHOP_IDS, ros_total=size, tag=f"http{i}", seed=i)
        elapsed, response = send(server, key, "POST", body)
        posts.append(elapsed)
        queries.add(harness.queries_of(response))
        elapsed, response = send(server, key, "PATCH", payloads.patch_of(body, seed=i))
        patches.append(elapsed)
        queries.add(harness.queries_of(response))

    with harness.connect(database_url) as conn:
        with_history = conn.execute("SELECT count(*) FROM repairs_stagechange").fetchone()[0] > 0
        executemany, copy = [], []
        for i in range(repeats):
            executemany.append(
                raw.insert_executemany(
                    conn, payloads.batch(shop_ids=SHOP_IDS, ros_total=size, tag=f"em{i}", seed=i), with_history
                )
            )
            copy.append(
                raw.insert_copy(conn, payloads.batch(shop_ids=SHOP_IDS, ros_total=size, tag=f"cp{i}", seed=i), with_history)
            )

    post_s, patch_s = statistics.median(posts), statistics.median(patches)
    raw_best = min(statistics.median(executemany), statistics.median(copy))
    return {
        "ros": size,
        "post_ros_per_s": size / post_s,
        "patch_ros_per_s": size / patch_s,
        "executemany_ros_per_s": size / statistics.median(executemany),
        "copy_ros_per_s": size / statistics.median(copy),
        "ratio_post_to_raw": (size / post_s) / (size / raw_best),
        "queries_per_request": sorted(queries),
        "post_seconds": post_s,
        "patch_seconds": patch_s,
    }


def scaling(server: harness.Server, key: str, sizes=(10, 100, 1000)) -> list[dict]:
    rows = []
    for size in sizes:
        times, queries = [], set()
        for i in range(3):
            body = payloads.batch(shop_ids=SHOP_IDS[: max(1, min(10, size // 10))], ros_total=size, tag=f"sc{size}-{i}")
            elapsed, response = send(server, key, "POST", body)
            times.append(elapsed)
            queries.add(harness.queries_of(response))
        t = statistics.median(times)
        rows.append({"ros": size, "seconds": t, "ms_per_ro": t * 1000 / size, "queries": sorted(queries)})
    return rows
