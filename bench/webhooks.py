"""7. Webhooks under load: the moves run (bench/moves.py: 20 managers moving
cars, OBS receiving) twice, first without webhook endpoints, then with three
endpoints of the shop subscribed to every event, at a local receiver.

Counted from the second run: messages made (outbox rows) against messages
received, per endpoint: lost (made, never received), duplicates (one
webhook-id received twice), out of order (an RO's data.version not rising in
the order one endpoint received them). Lag: from the message's row (written
in the move's transaction) to its receipt. Throughput: accepted moves per
second with the endpoints over without (a ratio of two runs side by side).

Where the time goes, for both runs: CPU seconds per accepted move of each
process group (gunicorn, celery, postgres, ...), the depth of the broker's
delivery queue sampled during the run with endpoints (a queue that grows is
a worker that cannot keep up: the lag), and the load average around each run
(the machine is shared; docs/bench.md).
"""

import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

from . import harness, moves

ENDPOINTS = 3
WAIT_SECONDS = 120
# The broker's list of the default queue (Celery's task_default_queue), sampled this often.
QUEUE = "celery"
QUEUE_SAMPLE_SECONDS = 0.5


class _QueueDepth:
    """Samples the length of the broker's delivery queue in a thread, while a run lasts."""

    def __init__(self) -> None:
        import redis

        self._redis = redis.Redis.from_url(harness.bench_broker_url())
        self._stop = threading.Event()
        self.samples: list[int] = []
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(QUEUE_SAMPLE_SECONDS):
            try:
                self.samples.append(int(self._redis.llen(QUEUE)))
            except Exception:  # a sample lost is not a figure lost
                pass

    def __enter__(self) -> "_QueueDepth":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _cpu_ms_per_move(run: dict) -> dict[str, float]:
    accepted = run["moves_accepted"] or float("nan")
    return {name: round(seconds * 1000 / accepted, 1) for name, seconds in run["cpu_seconds"].items()}


def _timed(run_moves) -> tuple[dict, tuple[float, float]]:
    before = os.getloadavg()[0]
    result = run_moves()
    return result, (round(before, 2), round(os.getloadavg()[0], 2))


def _receipts(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _made(database_url: str) -> dict[str, tuple[str, float, str]]:
    """webhook-id → (endpoint path, created_at as Unix time, state) of the moves shop's messages."""
    with harness.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT m.public_id, e.url, extract(epoch FROM m.created_at), m.state"
            " FROM integrations_message m JOIN integrations_webhookendpoint e ON e.id = m.endpoint_id"
            " WHERE e.shop_id = %s",
            [moves.MOVES_SHOP],
        ).fetchall()
    return {wid: ("/" + url.rsplit("/", 1)[-1], float(created), state) for wid, url, created, state in rows}


def run(database_url: str, *, seconds: float) -> dict:
    without, load_without = _timed(lambda: moves.run(database_url, seconds=seconds))
    receipts_path = harness.OUT / "webhook-receipts.jsonl"
    receipts_path.unlink(missing_ok=True)
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.webhook_receiver", str(receipts_path)],
        cwd=harness.ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(receiver.stdout.readline())
        harness.fixtures(
            "webhook_endpoints",
            database_url,
            shop_id=moves.MOVES_SHOP,
            urls=[f"http://127.0.0.1:{port}/e{i}" for i in range(ENDPOINTS)],
        )
        harness.empty_broker()
        with _QueueDepth() as depth:
            with_hooks, load_with = _timed(
                lambda: moves.run(database_url, seconds=seconds, env={"WEBHOOKS_ALLOW_PRIVATE": "1"})
            )
        # moves.run waited for OBS; the endpoints may still be catching up.
        waited_from = time.monotonic()
        while time.monotonic() - waited_from < WAIT_SECONDS:
            made = _made(database_url)
            if made and all(state != "pending" for _, _, state in made.values()):
                break
            time.sleep(0.5)
        made = _made(database_url)
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)

    receipts = sorted(_receipts(receipts_path), key=lambda r: r["t"])
    seen: dict[str, int] = defaultdict(int)
    versions: dict[tuple[str, str], list[int]] = defaultdict(list)
    lags = []
    for receipt in receipts:
        seen[receipt["id"]] += 1
        versions[(receipt["path"], receipt["ro"])].append(receipt["version"])
        if receipt["id"] in made and seen[receipt["id"]] == 1:
            lags.append(receipt["t"] - made[receipt["id"]][1])
    out_of_order = sum(1 for v in versions.values() for a, b in zip(v, v[1:], strict=False) if b <= a)
    states = defaultdict(int)
    for _, _, state in made.values():
        states[state] += 1
    ratio = with_hooks["moves_per_s"] / without["moves_per_s"] if without["moves_per_s"] else float("nan")
    return {
        "users": with_hooks["users"],
        "seconds": with_hooks["seconds"],
        "endpoints": ENDPOINTS,
        "celery_pool": with_hooks["celery_pool"],
        "moves_per_s_without_endpoints": without["moves_per_s"],
        "moves_per_s_with_endpoints": with_hooks["moves_per_s"],
        "throughput_ratio": ratio,
        "moves_accepted": with_hooks["moves_accepted"],
        "moves_errors": with_hooks["errors"],
        "messages_made": len(made),
        "messages_received": len(seen),
        "message_states": dict(sorted(states.items())),
        "lost": sum(1 for wid in made if wid not in seen),
        "duplicates": sum(n - 1 for n in seen.values()),
        "out_of_order": out_of_order,
        "lag_p50_s": harness.percentile(lags, 50),
        "lag_p95_s": harness.percentile(lags, 95),
        "lag_max_s": max(lags, default=float("nan")),
        "obs_lag_p95_s": with_hooks["obs_lag_p95_s"],
        "obs_final_stage_arrived": with_hooks["obs_final_stage_arrived"],
        "lost_moves": with_hooks["lost_moves"],
        "cpu_ms_per_move_without_endpoints": _cpu_ms_per_move(without),
        "cpu_ms_per_move_with_endpoints": _cpu_ms_per_move(with_hooks),
        "queue_depth_max": max(depth.samples, default=0),
        "queue_depth_p50": harness.percentile(depth.samples, 50),
        "load_average_without": load_without,
        "load_average_with": load_with,
    }
