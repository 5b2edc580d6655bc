"""`python -m bench.faults [--only NAME,...]`: the fault table of issue 14, replayed.

A production-like stack on loopback: a fresh PostgreSQL database
(FAULTS_DATABASE_URL, default shopboard_faults, dropped and recreated),
gunicorn with 2 workers (DEBUG off), a Celery prefork worker with beat, a
sweeper on the sweep's own queue, a Redis of its own (started here, on a free
port: never the shared one) and a fake OBS in this process. Each fault is
injected while a manager moves cars on the board, healed, and then the
script waits (bounded) until OBS shows every touched RO on its current stage.

Printed per fault: ROs and stage changes made, ROs OBS ended on the current
stage of, lost (did not), duplicate updates OBS received, out-of-order
updates (an older stage landing after a newer one), recovery time after
healing, the moves answered 503 (connection lost mid-move: "could not be
confirmed", the board reloads) and those answered 500 or not at all, each
with how many of them were saved all the same (the last must be 0: a saved
move is never reported as failed), and the slowest move. Every RO only moves forward, so
"older" is simply a lower stage. Every process started is stopped, whatever
happens. Not part of the test suite: it takes a few minutes.
"""

import argparse
import contextlib
import json
import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import requests

from . import harness, payloads

SHOP = 101
MANAGER = "fault-manager"
PASSWORD = "fault-password-1"
RECOVERY_LIMIT_SECONDS = 60
_CSRF_HEADER = re.compile(r'"X-CSRFToken": "([^"]+)"')


def faults_database_url() -> str:
    return os.environ.get("FAULTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shopboard_faults")


class FakeObs:
    """OBS on loopback: `mode` says how it answers; keeps every 2xx in order."""

    def __init__(self) -> None:
        self.mode = "ok"  # ok | 500 | slow (past the timeout) | lag (0.4 s) | drop
        self.completed: list[tuple[str, int]] = []  # (obs_event_id, stage) as answered
        self._lock = threading.Lock()
        self.port = harness.free_port()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/ver_1/updateevent/"

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                # One connection per update, as a stopped OBS refuses new ones.
                self.close_connection = True
                update = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))[0]
                mode = fake.mode
                if mode in ("slow", "lag"):
                    time.sleep(4.0 if mode == "slow" else 0.4)
                if mode == "drop":
                    self.close_connection = True
                    return
                status, body = (500, b'{"message": "boom"}') if mode == "500" else (200, b'{"success": true}')
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    if status == 200:
                        with fake._lock:
                            fake.completed.append((update["obs_event_id"], int(update["status"])))

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def sequence(self, obs_event_id: str) -> list[int]:
        with self._lock:
            return [stage for event, stage in self.completed if event == obs_event_id]


@dataclass
class Stack:
    database_url: str
    redis: harness.PrivateRedis
    obs: FakeObs
    env: dict[str, str]
    server: harness.Server | None = None
    worker: harness.CeleryWorker | None = None
    sweeper: harness.CeleryWorker | None = None
    used: set[int] = field(default_factory=set)

    def start_worker(self) -> None:
        self.worker = harness.CeleryWorker(self.database_url, env=self.env, queues="celery").__enter__()

    def ros(self, count: int) -> list[tuple[int, str]]:
        """`count` ROs no fault has used yet: (id, obs_event_id)."""
        with harness.connect(self.database_url) as conn:
            fresh = conn.execute(
                "SELECT id, obs_event_id FROM repairs_repairorder WHERE shop_id = %s "
                "AND repair_number LIKE 'F-%%' AND NOT (id = ANY(%s)) ORDER BY id LIMIT %s",
                [SHOP, list(self.used), count],
            ).fetchall()
        self.used.update(ro for ro, _ in fresh)
        return fresh


class Mover:
    """A signed-in manager moving cars forward one stage at a time."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.session = harness.login(stack.server, MANAGER, PASSWORD)
        page = self.session.get(f"{stack.server.url}/shops/{SHOP}/board/", timeout=60)
        self.csrf = _CSRF_HEADER.search(page.text).group(1)
        self.db = harness.connect(stack.database_url)
        self.answers: Counter = Counter()
        self.slowest = 0.0
        # Moves answered 503 / answered 500 or not at all, that were saved nonetheless.
        self.unconfirmed_saved = 0
        self.failed_saved = 0

    def forward(self, ro_id: int) -> int:
        try:
            stage, version = self._read(ro_id)
        except psycopg.OperationalError:
            self.db = harness.connect(self.stack.database_url)  # terminated by a fault
            stage, version = self._read(ro_id)
        if stage >= 15:
            return 0
        started = time.monotonic()
        try:
            status = self.session.post(
                f"{self.stack.server.url}/shops/{SHOP}/ros/{ro_id}/move/",
                data={"stage_id": stage + 1, "version": version},
                headers={"HX-Request": "true", "X-CSRFToken": self.csrf},
                timeout=60,
            ).status_code
        except requests.RequestException:
            status = 0
        self.slowest = max(self.slowest, time.monotonic() - started)
        self.answers[status] += 1
        if status not in (200, 409) and self._saved(ro_id, stage + 1, version + 1):
            if status == 503:
                self.unconfirmed_saved += 1
            else:
                self.failed_saved += 1
        return status

    def _saved(self, ro_id: int, stage: int, version: int) -> bool:
        """Whether this move was saved: the RO is where it sent it, one version on."""
        try:
            return self._read(ro_id) == (stage, version)
        except psycopg.OperationalError:
            self.db = harness.connect(self.stack.database_url)
            return self._read(ro_id) == (stage, version)

    def _read(self, ro_id: int) -> tuple[int, int]:
        with self.db.transaction():
            return self.db.execute(
                "SELECT stage_id, version FROM repairs_repairorder WHERE id = %s", [ro_id]
            ).fetchone()

    def close(self) -> None:
        self.db.close()


@dataclass
class Row:
    fault: str
    ros: int = 0
    changes: int = 0
    on_current: int = 0
    lost: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    recovery_s: float | None = None
    unconfirmed: int = 0  # moves answered 503: the connection broke, outcome unknown, the board reloads
    unconfirmed_saved: int = 0
    errors: int = 0  # moves answered another 5xx, or not at all
    failed_saved: int = 0  # ... and saved all the same: a saved move reported as failed
    slowest_move_s: float = 0.0
    note: str = ""


def _current_stages(stack: Stack, ro_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per RO: (stage, stage changes made)."""
    with harness.connect(stack.database_url) as conn:
        rows = conn.execute(
            "SELECT r.id, r.stage_id, (SELECT count(*) FROM repairs_stagechange c "
            "WHERE c.repair_order_id = r.id AND c.from_stage_id IS NOT NULL) "
            "FROM repairs_repairorder r WHERE r.id = ANY(%s)",
            [ro_ids],
        ).fetchall()
    return {ro: (stage, changes) for ro, stage, changes in rows}


def _measure(stack: Stack, row: Row, ros: list[tuple[int, str]], healed_at: float) -> None:
    events = dict(ros)
    deadline = healed_at + RECOVERY_LIMIT_SECONDS
    while True:
        truth = _current_stages(stack, list(events))
        moved = {ro: stage for ro, (stage, changes) in truth.items() if changes}
        ended = {ro for ro, stage in moved.items() if stack.obs.sequence(events[ro])[-1:] == [stage]}
        if len(ended) == len(moved) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if len(ended) == len(moved):
        row.recovery_s = max(0.0, time.monotonic() - healed_at)
    time.sleep(2)  # a late or duplicate update would land now
    row.ros = len(moved)
    row.changes = sum(changes for _, changes in truth.values())
    row.on_current = len(
        {ro for ro, stage in moved.items() if stack.obs.sequence(events[ro])[-1:] == [stage]}
    )
    row.lost = row.ros - row.on_current
    for ro in moved:
        sequence = stack.obs.sequence(events[ro])
        row.duplicates += sum(n - 1 for n in Counter(sequence).values())
        row.out_of_order += sum(1 for i, stage in enumerate(sequence) if stage < max(sequence[: i + 1]))


def _moves(mover: Mover, ros: list[tuple[int, str]], rounds: int = 2, pause: float = 0.05) -> None:
    for _ in range(rounds):
        for ro, _event in ros:
            mover.forward(ro)
            time.sleep(pause)


# ---- the faults: each injects, moves, heals; returns (ROs touched, note) ------------------------------


def obs_fault(mode: str) -> Callable:
    def fault(stack: Stack, mover: Mover):
        ros = stack.ros(8)
        stack.obs.mode = mode
        _moves(mover, ros)
        time.sleep(4)
        stack.obs.mode = "ok"
        return ros, f"OBS {mode} for ~5 s"

    return fault


def obs_unreachable(stack: Stack, mover: Mover):
    ros = stack.ros(8)
    stack.obs.stop()
    _moves(mover, ros)
    time.sleep(4)
    stack.obs.start()
    return ros, "OBS port closed for ~5 s"


def worker_kill9_under_backlog(stack: Stack, mover: Mover):
    ros = stack.ros(12)
    stack.obs.mode = "lag"
    _moves(mover, ros, rounds=1, pause=0)
    time.sleep(1)
    os.killpg(stack.worker.process.pid, signal.SIGKILL)
    stack.worker.__exit__(None, None, None)
    time.sleep(1)
    stack.start_worker()
    stack.obs.mode = "ok"
    return ros, "worker and its pool killed -9 with 12 deliveries queued, restarted"


def redis_refused(stack: Stack, mover: Mover):
    ros = stack.ros(8)
    stack.redis.crash()
    _moves(mover, ros)
    stack.redis.start()
    return ros, "Redis down (connection refused) during the moves, started again"


def redis_frozen(stack: Stack, mover: Mover):
    ros = stack.ros(8)
    stack.redis.freeze()
    _moves(mover, ros)
    time.sleep(2)
    stack.redis.thaw()
    return ros, "Redis SIGSTOP during the moves, then SIGCONT"


def redis_crashed_with_backlog(stack: Stack, mover: Mover):
    ros = stack.ros(12)
    stack.obs.mode = "lag"
    _moves(mover, ros, rounds=1, pause=0)
    time.sleep(0.5)
    stack.redis.crash()  # the queued tasks die with it (no persistence)
    time.sleep(2)
    stack.redis.start()
    stack.obs.mode = "ok"
    return ros, "Redis killed -9 with deliveries queued, started empty"


def database_backends_terminated(stack: Stack, mover: Mover):
    ros = stack.ros(10)
    stack.obs.mode = "lag"
    stop = threading.Event()
    killed: list[int] = []

    def terminator():
        with harness.connect(stack.database_url) as conn:
            conn.autocommit = True  # pg_stat_activity is a snapshot per transaction
            while not stop.wait(0.5):
                killed.append(
                    conn.execute(
                        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    ).fetchone()[0]
                )

    thread = threading.Thread(target=terminator)
    thread.start()
    try:
        for _ in range(6):
            for ro, _event in ros:
                mover.forward(ro)
                time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
    stack.obs.mode = "ok"
    return ros, f"{sum(killed)} backends terminated in {len(killed)} rounds (every 0.5 s) during moves"


def racing_moves_one_ro(stack: Stack, mover: Mover):
    ros = stack.ros(1)
    ro = ros[0][0]
    movers = [mover] + [Mover(stack) for _ in range(5)]
    deadline = time.monotonic() + 8

    def race(m: Mover):
        while time.monotonic() < deadline and m.forward(ro) != 0:
            pass

    threads = [threading.Thread(target=race, args=(m,)) for m in movers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for m in movers[1:]:
        mover.answers.update(m.answers)
        mover.unconfirmed_saved += m.unconfirmed_saved
        mover.failed_saved += m.failed_saved
        mover.slowest = max(mover.slowest, m.slowest)
        m.close()
    return ros, "6 sessions moving one RO forward as fast as they can"


def gunicorn_worker_killed_mid_batch(stack: Stack, mover: Mover):
    body = payloads.batch(shop_ids=[SHOP], ros_total=1000, tag="K", seed=7)
    answer = {}

    def send():
        try:
            answer["status"] = requests.post(
                stack.server.url + "/api/v1/repair-orders",
                data=json.dumps(body),
                headers={
                    "Authorization": f"Bearer {stack.env['FAULTS_KEY']}",
                    "Content-Type": "application/json",
                },
                timeout=120,
            ).status_code
        except requests.RequestException:
            answer["status"] = 0

    thread = threading.Thread(target=send)
    thread.start()
    time.sleep(0.3)  # the batch is being parsed or written
    for pid in stack.server.worker_pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    thread.join()
    with harness.connect(stack.database_url) as conn:
        saved = conn.execute(
            "SELECT count(*) FROM repairs_repairorder WHERE repair_number LIKE 'K-%%'"
        ).fetchone()[0]
    # Let gunicorn bring its workers back before the next fault.
    deadline = time.monotonic() + 30
    while len(stack.server.worker_pids()) < stack.server.workers and time.monotonic() < deadline:
        time.sleep(0.2)
    return (
        [],
        f"1,000-RO batch answered {answer.get('status')}; rows saved: {saved} (0 or 1,000 expected)",
        saved,
    )


FAULTS: dict[str, Callable] = {
    "obs_500": obs_fault("500"),
    "obs_slow": obs_fault("slow"),
    "obs_erroring": obs_fault("drop"),
    "obs_unreachable": obs_unreachable,
    "worker_kill9_backlog": worker_kill9_under_backlog,
    # Frozen before refused: a web process that just failed to publish skips
    # the broker for 10 s, which would hide the freeze.
    "redis_frozen": redis_frozen,
    "redis_refused": redis_refused,
    "redis_crashed": redis_crashed_with_backlog,
    "gunicorn_kill_mid_batch": gunicorn_worker_killed_mid_batch,
    "db_backends_terminated": database_backends_terminated,
    "racing_moves_one_ro": racing_moves_one_ro,
}


def _setup(stack: Stack, ros: int) -> None:
    made = harness.fixtures(
        "setup",
        stack.database_url,
        shops=[[SHOP, "Faults"]],
        key_shops=[SHOP],
        managers=[MANAGER],
        manager_shops=[SHOP],
        password=PASSWORD,
    )
    stack.env["FAULTS_KEY"] = made["key"]
    body = payloads.batch(shop_ids=[SHOP], ros_total=ros, tag="F", seed=3)
    response = requests.post(
        stack.server.url + "/api/v1/repair-orders",
        data=json.dumps(body),
        headers={"Authorization": f"Bearer {made['key']}", "Content-Type": "application/json"},
        timeout=120,
    )
    if response.status_code != 201:
        raise RuntimeError(f"creating the ROs answered {response.status_code}: {response.text[:300]}")


def run(names: list[str]) -> list[Row]:
    database_url = faults_database_url()
    rows: list[Row] = []
    harness.OUT.mkdir(exist_ok=True)
    with contextlib.ExitStack() as cleanup:
        redis = cleanup.enter_context(harness.PrivateRedis())
        obs = FakeObs()
        obs.start()
        cleanup.callback(obs.stop)
        env = {
            "CELERY_BROKER_URL": redis.url(0),
            "REDIS_URL": redis.url(1),
            "OBS_UPDATE_URL": obs.url,
            "OBS_API_KEY": "faults-obs-key",
            "OBS_TIMEOUT_SECONDS": "2",
            "OBS_RETRY_BASE_SECONDS": "0.5",
            "OBS_RETRY_MAX_DELAY_SECONDS": "2",
            "OBS_RETRY_WINDOW_SECONDS": "600",
            "OBS_SWEEP_INTERVAL_SECONDS": "2",
            "OBS_SWEEP_GRACE_SECONDS": "2",
        }
        stack = Stack(database_url, redis, obs, env)
        harness.recreate_database(database_url)
        stack.server = cleanup.enter_context(
            harness.Server(
                database_url, workers=2, extra_env=env, log_path=harness.OUT / "faults-gunicorn.log"
            )
        )
        _setup(stack, ros=len(names) * 12 + 10)
        stack.start_worker()
        cleanup.callback(lambda: stack.worker.__exit__(None, None, None))
        stack.sweeper = cleanup.enter_context(
            harness.CeleryWorker(
                database_url, env=env, queues="obs_sweep", beat=False, concurrency=1, name="celery-sweeper"
            )
        )
        mover = Mover(stack)
        cleanup.callback(mover.close)
        for name in names:
            row = Row(name)
            mover.answers.clear()
            mover.slowest = 0.0
            mover.unconfirmed_saved = mover.failed_saved = 0
            outcome = FAULTS[name](stack, mover)
            healed_at = time.monotonic()
            ros, row.note = outcome[0], outcome[1]
            if name == "gunicorn_kill_mid_batch":
                saved = outcome[2]
                row.changes = saved
                row.lost = 0 if saved in (0, 1000) else min(saved, 1000 - saved)
                row.recovery_s = 0.0
            else:
                _measure(stack, row, ros, healed_at)
            row.unconfirmed = mover.answers[503]
            row.unconfirmed_saved, row.failed_saved = mover.unconfirmed_saved, mover.failed_saved
            row.errors = sum(n for status, n in mover.answers.items() if status in (0, 500) or status > 503)
            row.slowest_move_s = mover.slowest
            rows.append(row)
            print(_format_row(row), flush=True)
    return rows


HEADER = (
    "| fault | ROs moved | changes | delivered (OBS on current stage) | lost | duplicates | out of order "
    "| recovery | moves 503 unconfirmed (saved) | moves 500 or no answer (saved) | slowest move "
    "| what was done |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _format_row(row: Row) -> str:
    recovery = "not within 60 s" if row.recovery_s is None else f"{row.recovery_s:.1f} s"
    return (
        f"| {row.fault} | {row.ros} | {row.changes} | {row.on_current} | {row.lost} | {row.duplicates} | "
        f"{row.out_of_order} | {recovery} | {row.unconfirmed} ({row.unconfirmed_saved}) | "
        f"{row.errors} ({row.failed_saved}) | {row.slowest_move_s:.1f} s "
        f"| {row.note} |"
    )


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults")
    parser.add_argument("--only", default=",".join(FAULTS), help=f"comma-separated, of {','.join(FAULTS)}")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    if unknown := set(names) - set(FAULTS):
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    # SIGTERM stops the run like Ctrl-C: every process started is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    print(HEADER, flush=True)
    rows = run(names)
    print(f"\n{len(rows)} faults in {time.monotonic() - started:.0f} s", flush=True)
    failed = [r.fault for r in rows if r.lost or r.out_of_order or r.failed_saved]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
