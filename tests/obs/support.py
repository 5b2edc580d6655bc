"""Real stand-ins for the tests and the lag benchmark: an OBS server (a
local http.server the test can make fail, stall or answer anything) and a
real Celery worker process (with beat, so the sweep runs)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from django.conf import settings

from tests import factories

BASE_DIR = Path(settings.BASE_DIR)

# The settings a test worker runs with: short timeouts and a backoff of
# fractions of a second, so retries happen within a test.
FAST_OBS_ENV = {
    "OBS_API_KEY": "test-obs-key",
    "OBS_TIMEOUT_SECONDS": "1",
    "OBS_RETRY_BASE_SECONDS": "0.2",
    "OBS_RETRY_MAX_DELAY_SECONDS": "1",
    "OBS_RETRY_WINDOW_SECONDS": "30",
    "OBS_SWEEP_INTERVAL_SECONDS": "1",
    "OBS_SWEEP_GRACE_SECONDS": "1",
}


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: object = field(default_factory=lambda: {"success": True})
    delay: float = 0.0
    # Close the connection without answering: a connection error for the client.
    drop: bool = False
    headers: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Received:
    at: float
    path: str
    headers: dict
    raw: bytes

    @property
    def body(self):
        return json.loads(self.raw.decode("utf-8"))


class FakeObs:
    """OBS's update endpoint: records every POST; answers from a script of
    replies (one per request, in order), then with the default reply."""

    def __init__(self):
        self._lock = threading.Lock()
        self._script: list[Reply] = []
        self.default = Reply()
        self.received: list[Received] = []
        self.completed: list[Received] = []  # answered with a 2xx, in order of answer
        self.in_flight = 0
        self.max_in_flight = 0  # most requests being answered at once
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                item = Received(time.time(), self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                reply = fake._next_reply(item)
                with fake._lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    self._answer(item, reply)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def _answer(self, item, reply):
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    return
                payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (timeout)
                if 200 <= reply.status < 300:
                    with fake._lock:
                        fake.completed.append(item)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/ver_1/updateevent/"

    def _next_reply(self, item: Received) -> Reply:
        with self._lock:
            self.received.append(item)
            return self._script.pop(0) if self._script else self.default

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script = list(replies)

    def reset(self) -> None:
        with self._lock:
            self._script = []
            self.default = Reply()
            self.received = []
            self.completed = []
            self.max_in_flight = 0

    def received_for(self, obs_event_id: str) -> list[Received]:
        with self._lock:
            items = list(self.received)
        return [r for r in items if r.body[0]["obs_event_id"] == obs_event_id]

    def completed_for(self, obs_event_id: str) -> list[Received]:
        with self._lock:
            items = list(self.completed)
        return [r for r in items if r.body[0]["obs_event_id"] == obs_event_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def database_url_of_test_db() -> str:
    """The URL of the database this test process uses (pytest-django's
    test_<name>), for processes that must see the test's committed rows."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError("The worker tests need PostgreSQL (set DATABASE_URL).")
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """A real `celery worker` (prefork, concurrency 2) with embedded beat,
    in its own process group so that stopping it stops its children."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        log_dir: Path,
        concurrency: int = 2,
        # prefork, or threads as production runs the delivery queue (docs/operations.md).
        pool: str = "prefork",
        beat: bool = True,
        # Deliveries and the sweep: one process does both in most tests.
        queues: tuple[str, ...] = (settings.CELERY_TASK_DEFAULT_QUEUE, settings.OBS_SWEEP_QUEUE),
    ):
        self.log_path = log_dir / f"worker-{uuid.uuid4().hex[:8]}.log"
        cmd = [
            sys.executable, "-m", "celery", "-A", "shopboard", "worker",
            "--pool", pool, "--concurrency", str(concurrency), "--queues", ",".join(queues),
            "--loglevel", "INFO", "--without-gossip", "--without-mingle",
            "--hostname", f"obs-test-{uuid.uuid4().hex[:8]}@%h",
        ]  # fmt: skip
        if beat:
            cmd += ["--beat"]
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            cmd,
            cwd=BASE_DIR,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Celery worker exited early:\n{self.log()[-4000:]}")
            if " ready." in self.log():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Celery worker not ready after {timeout} s:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            # The main process only: it stops its pool and beat (warm shutdown).
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        try:
            # Pool children and beat live in the group; none may outlive the test.
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._log.close()


def wait_until(predicate, *, timeout: float = 15, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def new_obs_event_id() -> str:
    """35 characters shaped like OBS's ids (the sample's), not a UUID."""
    h = uuid.uuid4().hex.upper()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:32]}"


def make_obs_repair_order(shop, **fields):
    fields.setdefault("obs_event_id", new_obs_event_id())
    return factories.make_repair_order(shop=shop, **fields)
