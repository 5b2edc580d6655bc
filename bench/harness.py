"""A throw-away PostgreSQL database, real gunicorn and Celery processes, and
small measuring helpers for the benchmarks.

Nothing here imports Django: the product runs in its own processes (gunicorn,
celery, manage.py, `python -m bench.fixtures`) exactly as in production, and
the bench talks to it over HTTP and reads the database with psycopg.
"""

import abc
import contextlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/shopboard_bench"
# The cache, and the broker (emptied before the moves run).
DEFAULT_REDIS = "redis://127.0.0.1:6379/11"
DEFAULT_BROKER = "redis://127.0.0.1:6379/12"


def bench_database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG)


def bench_redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)


def bench_broker_url() -> str:
    return os.environ.get("BENCH_BROKER_URL", DEFAULT_BROKER)


def _admin_url(url: str) -> str:
    return urlunparse(urlparse(url)._replace(path="/postgres"))


def _conninfo(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def recreate_database(url: str) -> None:
    """A fresh database with the product's schema and static files collected
    (DEBUG is off, so pages need the manifest)."""
    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(_conninfo(_admin_url(url)), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    manage("migrate", "--no-input", "-v0", database_url=url)
    manage("collectstatic", "--no-input", "-v0", database_url=url)


def migrate_database(url: str) -> None:
    """An earlier run's database brought to today's schema and static files (--reuse-db); created
    empty if there is none yet (the sections then generate what they need)."""
    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(_conninfo(_admin_url(url)), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    manage("migrate", "--no-input", "-v0", database_url=url)
    manage("collectstatic", "--no-input", "-v0", database_url=url)


def empty_broker() -> None:
    """Tasks left in the broker by an earlier run name notifications of a database that is gone."""
    import redis

    redis.Redis.from_url(bench_broker_url()).flushdb()


def base_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of every product process the bench starts: production
    settings but for plain HTTP on loopback (DEBUG off, no HTTPS redirect)."""
    drop = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "OBS_UPDATE_URL"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=bench_redis_url(),
        CELERY_BROKER_URL=bench_broker_url(),
        DEBUG="false",
        SECRET_KEY="bench-" + "x" * 60,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="ERROR",  # a 409 is a warning in the product log: thousands of them in the moves run
        DJANGO_SETTINGS_MODULE="shopboard.settings",
        PYTHONUNBUFFERED="1",
        # The limiter still counts every request (same cost); the bench just
        # must not be throttled by its own repeats.
        API_RATE_LIMIT_PER_MINUTE="1000000",
        # Never reach the real OBS from a bench.
        OBS_UPDATE_URL="http://127.0.0.1:9/unused/",
    )
    env.update(extra)
    return env


def manage(*args: str, database_url: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base_env(database_url, **env),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def fixtures(task: str, database_url: str, **kwargs) -> dict:
    """Run one task of bench/fixtures.py inside Django (one process) and return its JSON answer."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.fixtures", task, json.dumps(kwargs)],
        cwd=ROOT,
        env=base_env(database_url),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"bench.fixtures {task} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(_conninfo(url))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of its own on a free loopback port, for faults that must
    not touch anyone else's Redis: freeze (SIGSTOP: up but silent), thaw,
    crash (SIGKILL) and start again on the same port. Nothing is persisted."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> "PrivateRedis":
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],  # nothing persisted: a crash loses what was queued
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not come up")

    def freeze(self) -> None:
        assert self.process
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process
        self.process.send_signal(signal.SIGCONT)

    def crash(self) -> None:
        assert self.process
        self.process.kill()
        self.process.wait(timeout=5)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def __enter__(self) -> "PrivateRedis":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except FileNotFoundError:
        return []


# A busy machine (other builds, the load generator itself) can make a
# start-up slow: wait long, with a patient health check, before giving up.
STARTUP_SECONDS = float(os.environ.get("BENCH_STARTUP_SECONDS", "180"))
HEALTH_TIMEOUT_SECONDS = 10.0


def group_pids(pgid: int) -> list[int]:
    """Live processes of a process group (a server the bench started and its workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(entry.name))
    return pids


def stop_group(process: subprocess.Popen | None, *, grace: float = 15, sig: int = signal.SIGTERM) -> None:
    """Stop a process the bench started in its own session, and everything in its
    group, whatever state it is in: `sig` to the leader, then SIGKILL to the group."""
    if process is None:
        return
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # nothing of the group may outlive the bench
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    deadline = time.monotonic() + 10  # the kernel takes a moment to end the killed ones
    while group_pids(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)


class _Started(abc.ABC):
    """A process the bench started: ready when `with` is entered, stopped when it is left."""

    @abc.abstractmethod
    def _wait_ready(self) -> None:
        """Until the process serves, or an exception saying why it will not."""

    def _ready_or_stopped(self):
        # A start that fails or is interrupted leaves no process behind:
        # `with` only calls __exit__ once __enter__ has returned.
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self


@dataclass
class Server(_Started):
    """gunicorn on loopback, as production runs it (DEBUG off, sync workers).

    It runs in a process group of its own; leaving the `with` block, or failing
    to start, stops the whole group."""

    database_url: str
    workers: int = 2
    threads: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    startup_seconds: float = STARTUP_SECONDS
    health_timeout: float = HEALTH_TIMEOUT_SECONDS
    port: int = 0
    process: subprocess.Popen | None = None
    # Where gunicorn's output goes (None: this process's own).
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "Server":
        self.port = free_port()
        env = base_env(self.database_url, SERVER_TIMING="true", **self.extra_env)
        self._log = open(self.log_path, "wb") if self.log_path else None  # noqa: SIM115 (closed in __exit__)
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "shopboard.wsgi",
                "--bind", f"127.0.0.1:{self.port}",
                "--workers", str(self.workers),
                "--threads", str(self.threads),
                "--backlog", "256",
                "--timeout", "120",
                "--log-level", "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT if self._log else None,
            start_new_session=True,
        )  # fmt: skip
        return self._ready_or_stopped()

    def _wait_ready(self) -> None:
        """Until /api/v1/health answers and every worker is up; a slow or
        refused answer is retried until the start-up deadline."""
        assert self.process
        deadline = time.monotonic() + self.startup_seconds
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with code {self.process.returncode} while starting")
            try:
                status = requests.get(self.url + "/api/v1/health", timeout=self.health_timeout).status_code
                last = f"health answered {status}"
                if status < 500 and len(self.worker_pids()) >= self.workers:
                    return
            except requests.RequestException as exc:  # refused, read timeout, reset...
                last = f"health check: {type(exc).__name__}"
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn not ready within {self.startup_seconds:g} s ({last})")

    def __exit__(self, *exc) -> None:
        stop_group(self.process)
        if self._log:
            self._log.close()

    def worker_pids(self) -> list[int]:
        assert self.process
        return _children(self.process.pid)

    def peak_rss_mib(self) -> float:
        """Largest peak resident set (VmHWM) of any worker process, in MiB."""
        return max((_vm_kib(pid, "VmHWM") for pid in self.worker_pids()), default=0) / 1024

    def current_rss_mib(self) -> float:
        return max((_vm_kib(pid, "VmRSS") for pid in self.worker_pids()), default=0) / 1024


@dataclass
class AsgiServer(_Started):
    """uvicorn serving shopboard/asgi.py on loopback (DEBUG off): the board's event
    stream, as production runs it beside gunicorn (docs/operations.md); with
    `workers` > 1 uvicorn forks that many processes."""

    database_url: str
    workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "AsgiServer":
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "shopboard.asgi:application",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--workers", str(self.workers),
                "--lifespan", "off", "--no-access-log", "--log-level", "warning",
                "--timeout-graceful-shutdown", "2",
                "--backlog", "2048",
            ],
            cwd=ROOT,
            env=base_env(self.database_url, **self.extra_env),
            start_new_session=True,
        )  # fmt: skip
        return self._ready_or_stopped()

    def _wait_ready(self) -> None:
        assert self.process
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with code {self.process.returncode} while starting")
            try:
                if (
                    requests.get(self.url + "/api/v1/health", timeout=HEALTH_TIMEOUT_SECONDS).status_code
                    < 500
                ):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"uvicorn not ready within {STARTUP_SECONDS:g} s")

    def pids(self) -> list[int]:
        """The server's processes: with --workers 1 the one process, else the supervisor and its workers."""
        assert self.process
        return [self.process.pid, *_children(self.process.pid)]

    def __exit__(self, *exc) -> None:
        stop_group(self.process, grace=10)


def _vm_kib(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


# The delivery worker's pool, as docs/operations.md runs it in production.
# BENCH_CELERY_POOL="prefork:2" (pool:concurrency) runs another one, to compare (docs/bench.md).
DELIVERY_POOL = ("threads", 8)


def delivery_pool() -> tuple[str, int]:
    if spec := os.environ.get("BENCH_CELERY_POOL"):
        pool, _, concurrency = spec.partition(":")
        return pool, int(concurrency or DELIVERY_POOL[1])
    return DELIVERY_POOL


class CeleryWorker(_Started):
    """`celery -A shopboard worker` with embedded beat, as a real process group."""

    def __init__(
        self,
        database_url: str,
        *,
        concurrency: int = 2,
        pool: str = "prefork",
        env: dict[str, str] | None = None,
        # The default queue and the sweep's (settings.OBS_SWEEP_QUEUE).
        queues: str = "celery,obs_sweep",
        beat: bool = True,
        name: str = "celery-worker",
    ):
        OUT.mkdir(exist_ok=True)
        self.log_path = OUT / f"{name}.log"
        self.name = name
        self.database_url = database_url
        self.concurrency = concurrency
        self.pool = pool
        self.queues = queues
        self.beat = beat
        self.env = env or {}
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "CeleryWorker":
        self._log = open(self.log_path, "wb")
        beat = ["--beat"] if self.beat else []  # its schedule in memory (settings CELERY_BEAT_SCHEDULER)
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "shopboard", "worker",
                "--pool", self.pool, "--concurrency", str(self.concurrency), "--queues", self.queues,
                *beat,
                "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--hostname", f"{self.name}-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=base_env(self.database_url, LOG_LEVEL="INFO", **self.env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        return self._ready_or_stopped()

    def _wait_ready(self) -> None:
        assert self.process
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited:\n{self.log_path.read_text()[-3000:]}")
            if " ready." in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(
            f"celery worker not ready within {STARTUP_SECONDS:g} s:\n{self.log_path.read_text()[-3000:]}"
        )

    def pids(self) -> list[int]:
        assert self.process
        return [self.process.pid, *_children(self.process.pid)]

    def __exit__(self, *exc) -> None:
        stop_group(self.process, grace=20)  # SIGTERM first: a warm shutdown of the pool and beat
        self._log.close()


def server_timing(response: requests.Response) -> dict[str, dict[str, str]]:
    """The Server-Timing metrics of a response: {"db": {"desc": "7 queries", "dur": "12.3"}, "app": {...}}."""
    metrics: dict[str, dict[str, str]] = {}
    for metric in response.headers.get("Server-Timing", "").split(","):
        name, *params = [part.strip() for part in metric.split(";")]
        if name:
            metrics[name] = {k: v.strip('"') for k, _, v in (p.partition("=") for p in params)}
    return metrics


def queries_of(response: requests.Response) -> int:
    """SQL queries the server spent on a response (its Server-Timing header)."""
    desc = server_timing(response).get("db", {}).get("desc", "")
    return int(desc.split()[0]) if desc.endswith(" queries") else -1


def app_ms_of(response: requests.Response) -> float:
    """Time the request spent in Django, in ms (Server-Timing `app`)."""
    return float(server_timing(response).get("app", {}).get("dur", "nan"))


_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def login(server: Server, username: str, password: str) -> requests.Session:
    """A browser-like session signed in through the login form (CSRF included)."""
    session = requests.Session()
    page = session.get(server.url + "/accounts/login/", timeout=30)
    token = _CSRF_INPUT.search(page.text).group(1)
    response = session.post(
        server.url + "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/shops/"},
        allow_redirects=False,
        timeout=30,
    )
    if response.status_code != 302:
        raise RuntimeError(f"login of {username} answered {response.status_code}")
    return session


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]
