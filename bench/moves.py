"""3. Moves under load: gunicorn with several workers on loopback, a real
Celery worker delivering to a local OBS receiver, and a bounded (closed-loop)
load generator: N users, each signed in as a manager of a 500-RO shop, each
waiting for its answer before it sends the next move.

A user moves a random card to a random other stage with the version it last
saw (from its board, its own moves' answers, or the board a 409 sends back,
exactly what board.js does). A 409 is an expected outcome, counted apart
from errors. Two TV boards poll every 3 s meanwhile, as shop-floor screens do.

Afterwards the database is checked: every move answered 2xx has exactly one
StageChange (lost moves: must be 0), each RO's version is 1 + its changes,
each RO ends on the stage of its last accepted move, and the outbox holds a
notification per change. OBS lag: for each accepted move, from its answer to
OBS receiving that stage or a later one of the RO (a notification overtaken
by a newer one is obsolete by design, SPEC §5).
"""

import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import requests

from . import board, harness

MOVES_SHOP = 301
USERS = 20
TV_BOARDS = 2
POLL_SECONDS = 3.0
OBS_WAIT_SECONDS = 120
CSRF_HEADER = re.compile(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'')


def user_names(count: int = USERS) -> list[str]:
    return [f"bench-mover-{i:02d}" for i in range(count)]


@dataclass
class Move:
    user: int
    ro: int
    to_stage: int
    sent_at: float  # Unix time
    answered_at: float
    ms: float
    status: int  # 0: no answer (connection error, timeout)
    version: int | None = None  # the RO's version after an accepted move


@dataclass
class Board:
    """What one user's board shows: stage and version per RO."""

    cards: dict[int, tuple[int, int]] = field(default_factory=dict)
    csrf: str = ""


def _open_board(server: harness.Server, session: requests.Session) -> Board:
    response = session.get(f"{server.url}/shops/{MOVES_SHOP}/board/", timeout=60)
    response.raise_for_status()
    return Board(board.cards_of(response.text), CSRF_HEADER.search(response.text).group(1))


def _user_loop(
    index: int, server, session, seen: Board, deadline: float, moves: list[Move], start: threading.Event
):
    rng = random.Random(index)
    ro_ids = sorted(seen.cards)
    start.wait()
    while time.monotonic() < deadline:
        ro = rng.choice(ro_ids)
        stage, version = seen.cards[ro]
        to_stage = rng.choice([s for s in range(1, 16) if s != stage])
        sent_at = time.time()
        started = time.perf_counter()
        try:
            response = session.post(
                f"{server.url}/shops/{MOVES_SHOP}/ros/{ro}/move/",
                data={"stage_id": to_stage, "version": version},
                headers={"HX-Request": "true", "HX-Target": f"ro-{ro}", "X-CSRFToken": seen.csrf},
                timeout=60,
            )
            status, text = response.status_code, response.text
        except requests.RequestException:
            status, text = 0, ""
        ms = (time.perf_counter() - started) * 1000
        move = Move(index, ro, to_stage, sent_at, time.time(), ms, status)
        if status == 200:
            card = board.cards_of(text).get(ro)
            if card is None or card[0] != to_stage:
                move.status = -200  # answered 200 without the moved card: counted as an error
            else:
                seen.cards[ro] = card
                move.version = card[1]
        elif status == 409:
            seen.cards.update(board.cards_of(text))  # the board as it really is
        moves.append(move)


def _tv_loop(server, session, deadline: float, polls: list[tuple[int, float]], start: threading.Event):
    etag = ""
    start.wait()
    while time.monotonic() < deadline:
        started = time.perf_counter()
        headers = {**board.POLL, **({"If-None-Match": etag} if etag else {})}
        try:
            response = session.get(f"{server.url}/shops/{MOVES_SHOP}/board/", headers=headers, timeout=60)
            etag = response.headers.get("ETag", etag)
            status = response.status_code
        except requests.RequestException:
            status = 0
        elapsed = time.perf_counter() - started
        polls.append((status, elapsed * 1000))
        time.sleep(max(0.0, POLL_SECONDS - elapsed))


def _cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (FileNotFoundError, IndexError):
            pass
    return total / tick


class _CpuSampler:
    """CPU seconds of a changing set of processes (database backends come and
    go with CONN_MAX_AGE): each pid's CPU read every half second, summed as
    last reading minus its first (zero for a pid born during the run)."""

    def __init__(self, pids) -> None:
        self._pids = pids
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._born_after_start = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _read(self) -> None:
        for pid in self._pids():
            seconds = _cpu_seconds([pid])
            self._first.setdefault(pid, 0.0 if self._born_after_start else seconds)
            self._last[pid] = seconds
        self._born_after_start = True

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._read()

    def start(self) -> None:
        self._read()
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(timeout=5)
        self._read()
        return sum(self._last[pid] - self._first[pid] for pid in self._last)


def _pids_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return pids


def _redis_serving(url: str) -> list[int]:
    """The redis-server of the bench's broker (and cache), not the other ones on the machine."""
    port = f":{urlparse(url).port or 6379}"
    pids = []
    for pid in _pids_named("redis-server"):
        try:
            if port in Path(f"/proc/{pid}/cmdline").read_text():
                pids.append(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return pids


def _database_backends(database_url: str) -> list[int]:
    with harness.connect(database_url) as conn:
        return [
            pid
            for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]


def _receipts(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _database_state(database_url: str) -> dict:
    with harness.connect(database_url) as conn:
        ros = {
            pk: {"stage": stage, "version": version, "obs_event_id": obs}
            for pk, stage, version, obs in conn.execute(
                "SELECT id, stage_id, version, obs_event_id FROM repairs_repairorder WHERE shop_id = %s",
                [MOVES_SHOP],
            )
        }
        changes = dict(
            conn.execute(
                "SELECT c.repair_order_id, count(*) FROM repairs_stagechange c JOIN repairs_repairorder r"
                " ON r.id = c.repair_order_id WHERE r.shop_id = %s AND c.source = 'board' GROUP BY 1",
                [MOVES_SHOP],
            ).fetchall()
        )
        notifications = dict(
            conn.execute(
                "SELECT n.repair_order_id, count(*) FROM integrations_message n"
                " JOIN repairs_repairorder r ON r.id = n.repair_order_id"
                " WHERE r.shop_id = %s AND n.destination = 'obs' GROUP BY 1",
                [MOVES_SHOP],
            ).fetchall()
        )
        states = dict(
            conn.execute(
                "SELECT n.state, count(*) FROM integrations_message n JOIN repairs_repairorder r"
                " ON r.id = n.repair_order_id WHERE r.shop_id = %s AND n.destination = 'obs' GROUP BY 1",
                [MOVES_SHOP],
            ).fetchall()
        )
    return {"ros": ros, "changes": changes, "notifications": notifications, "states": states}


def _consistency(accepted: dict[int, list[Move]], db: dict) -> dict:
    lost = unacknowledged = bad_version = bad_final = bad_sequence = outbox_gap = 0
    for ro, row in db["ros"].items():
        mine = sorted(accepted.get(ro, []), key=lambda m: m.version)
        changes = db["changes"].get(ro, 0)
        lost += max(0, len(mine) - changes)
        unacknowledged += max(0, changes - len(mine))
        bad_version += row["version"] != 1 + changes
        bad_sequence += [m.version for m in mine] != list(range(2, len(mine) + 2))
        if mine:
            bad_final += row["stage"] != mine[-1].to_stage
        outbox_gap += abs(db["notifications"].get(ro, 0) - changes)
    return {
        "lost_moves": lost,
        "changes_without_answer": unacknowledged,
        "ros_version_not_1_plus_changes": bad_version,
        "ros_versions_not_consecutive": bad_sequence,
        "ros_not_on_last_accepted_stage": bad_final,
        "outbox_rows_missing": outbox_gap,
    }


def _obs_lag(accepted: dict[int, list[Move]], receipts: list[dict], ro_of_event: dict[str, int]) -> dict:
    """Per accepted move: seconds from its answer until OBS held that stage or a later one of the RO."""
    pending = {ro: sorted(moves, key=lambda m: m.version) for ro, moves in accepted.items()}
    done = {ro: 0 for ro in pending}  # moves of the RO already reflected in OBS
    lags, unmatched = [], 0
    for receipt in sorted(receipts, key=lambda r: r["t"]):
        ro = ro_of_event.get(receipt.get("obs_event_id"))
        moves = pending.get(ro)
        if not moves:
            unmatched += 1
            continue
        # Which move this update carries: the newest one to that stage sent before it arrived.
        candidates = [
            i
            for i, m in enumerate(moves)
            if str(m.to_stage) == receipt["status"] and m.sent_at <= receipt["t"]
        ]
        if not candidates:
            unmatched += 1
            continue
        upto = candidates[-1]
        for move in moves[done[ro] : upto + 1]:
            lags.append(receipt["t"] - move.answered_at)
        done[ro] = max(done[ro], upto + 1)
    last_status = {}
    for receipt in sorted(receipts, key=lambda r: r["t"]):
        if receipt.get("obs_event_id") in ro_of_event:
            last_status[ro_of_event[receipt["obs_event_id"]]] = receipt["status"]
    final_arrived = sum(
        1
        for ro, moves in pending.items()
        if last_status.get(ro) == str(max(moves, key=lambda m: m.version).to_stage)
    )
    return {
        "lags": lags,
        "unmatched": unmatched,
        "never_reflected": sum(len(moves) - done[ro] for ro, moves in pending.items()),
        "final_arrived": final_arrived,
        "ros_moved": len(pending),
    }


def run(
    database_url: str,
    *,
    seconds: float,
    users: int = USERS,
    web_workers: int | None = None,
    celery_pool: tuple[str, int] | None = None,
    env: dict[str, str] | None = None,
) -> dict:
    web_workers = web_workers or 2 * (os.cpu_count() or 1) + 1
    celery_pool_name, concurrency = celery_pool or harness.delivery_pool()
    harness.OUT.mkdir(exist_ok=True)
    receipts_path = harness.OUT / "obs-receipts.jsonl"
    receipts_path.unlink(missing_ok=True)
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.obs_receiver", str(receipts_path)],
        cwd=harness.ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        port = int(receiver.stdout.readline())
        obs_env = {
            "OBS_UPDATE_URL": f"http://127.0.0.1:{port}/api/ver_1/updateevent/",
            "OBS_API_KEY": "bench",
            **(env or {}),
        }
        with (
            harness.Server(database_url, workers=web_workers, extra_env=obs_env) as server,
            harness.CeleryWorker(
                database_url, pool=celery_pool_name, concurrency=concurrency, env=obs_env
            ) as worker,
        ):
            with ThreadPoolExecutor(max_workers=4) as pool:
                sessions = list(
                    pool.map(
                        lambda name: harness.login(server, name, board.PASSWORD),
                        user_names(users + TV_BOARDS),
                    )
                )
            boards = [_open_board(server, s) for s in sessions[:users]]
            if len(boards[0].cards) != 500:
                raise RuntimeError(f"the moves shop shows {len(boards[0].cards)} cards, not 500")

            moves: list[Move] = []
            polls: list[tuple[int, float]] = []
            start = threading.Event()
            deadline = time.monotonic() + 1 + seconds
            threads = [
                threading.Thread(
                    target=_user_loop, args=(i, server, sessions[i], boards[i], deadline, moves, start)
                )
                for i in range(users)
            ] + [
                threading.Thread(target=_tv_loop, args=(server, s, deadline, polls, start))
                for s in sessions[users:]
            ]
            for thread in threads:
                thread.start()
            time.sleep(deadline - seconds - time.monotonic())
            # The backends of this database only: the server is shared (other databases' work is not ours).
            postgres = _CpuSampler(lambda: _database_backends(database_url))
            groups = {
                "gunicorn": lambda: server.worker_pids(),
                "celery": lambda: worker.pids(),
                "redis": lambda: _redis_serving(harness.bench_broker_url()),
                "bench (load, this process)": lambda: [os.getpid()],
            }
            cpu_before = {name: _cpu_seconds(pids()) for name, pids in groups.items()}
            postgres.start()
            wall_start = time.monotonic()
            start.set()
            for thread in threads:
                thread.join()
            wall = time.monotonic() - wall_start
            cpu = {name: _cpu_seconds(pids()) - cpu_before[name] for name, pids in groups.items()}
            cpu["postgres"] = postgres.stop()

            accepted: dict[int, list[Move]] = defaultdict(list)
            for move in moves:
                if move.status == 200:
                    accepted[move.ro].append(move)
            finals = {ro: str(max(ms, key=lambda m: m.version).to_stage) for ro, ms in accepted.items()}
            db = _database_state(database_url)
            ro_of_event = {row["obs_event_id"]: ro for ro, row in db["ros"].items()}
            waited_from = time.monotonic()
            while time.monotonic() - waited_from < OBS_WAIT_SECONDS:
                last = {}
                for receipt in _receipts(receipts_path):
                    last[ro_of_event.get(receipt.get("obs_event_id"))] = receipt["status"]
                if all(last.get(ro) == stage for ro, stage in finals.items()):
                    break
                time.sleep(0.5)
            obs_wait = time.monotonic() - waited_from
            db = _database_state(database_url)
    finally:
        harness.stop_group(receiver, grace=10)

    statuses = defaultdict(int)
    for move in moves:
        statuses[move.status] += 1
    answered = [m.ms for m in moves if m.status in (200, 409)]
    ok = [m.ms for m in moves if m.status == 200]
    lag = _obs_lag(accepted, _receipts(receipts_path), ro_of_event)
    consistency = _consistency(accepted, db)
    return {
        "users": users,
        "seconds": round(wall, 1),
        "web_workers": web_workers,
        "celery_pool": f"{celery_pool_name} × {concurrency}",
        "tv_boards": TV_BOARDS,
        "moves_sent": len(moves),
        "moves_accepted": statuses[200],
        "moves_409": statuses[409],
        "errors": len(moves) - statuses[200] - statuses[409],
        "moves_per_s": statuses[200] / wall,
        "requests_per_s": len(moves) / wall,
        "latency_p50_ms": harness.percentile(answered, 50),
        "latency_p95_ms": harness.percentile(answered, 95),
        "latency_p99_ms": harness.percentile(answered, 99),
        "accepted_p50_ms": harness.percentile(ok, 50),
        "accepted_p95_ms": harness.percentile(ok, 95),
        "accepted_p99_ms": harness.percentile(ok, 99),
        "conflict_p50_ms": harness.percentile([m.ms for m in moves if m.status == 409], 50),
        "tv_polls": len(polls),
        "tv_poll_p50_ms": harness.percentile([ms for _, ms in polls], 50),
        "tv_poll_p95_ms": harness.percentile([ms for _, ms in polls], 95),
        **consistency,
        "notification_states": dict(sorted(db["states"].items())),
        "obs_updates_received": len(_receipts(receipts_path)),
        "obs_lag_p50_s": harness.percentile(lag["lags"], 50),
        "obs_lag_p95_s": harness.percentile(lag["lags"], 95),
        "obs_lag_max_s": max(lag["lags"], default=float("nan")),
        "obs_moves_never_reflected": lag["never_reflected"],
        "obs_receipts_unmatched": lag["unmatched"],
        "obs_final_stage_arrived": f"{lag['final_arrived']} of {lag['ros_moved']} ROs",
        "obs_wait_after_load_s": round(obs_wait, 1),
        "cpu_seconds": {name: round(value, 1) for name, value in cpu.items()},
        "cpu_cores": os.cpu_count(),
    }
