"""A throw-away PostgreSQL database and a real gunicorn server for the benchmarks."""

import contextlib
import os
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
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/shopboard_bench"


def bench_database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG)


def _admin_url(url: str) -> str:
    return urlunparse(urlparse(url)._replace(path="/postgres"))


def _conninfo(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def recreate_database(url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(_conninfo(_admin_url(url)), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    manage("migrate", "--no-input", "-v0", database_url=url)


def base_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env.update(
        DATABASE_URL=database_url,
        DEBUG="false",
        SECRET_KEY="bench-" + "x" * 60,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="shopboard.settings",
        PYTHONUNBUFFERED="1",
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


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(_conninfo(url))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """gunicorn on loopback, as production runs it (DEBUG off, several workers)."""

    database_url: str
    workers: int = 2
    threads: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "Server":
        self.port = free_port()
        env = base_env(self.database_url, SERVER_TIMING="true", **self.extra_env)
        # The bench serves plain HTTP on loopback; production settings would
        # redirect to HTTPS, so the bench uses the base settings with DEBUG off.
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "shopboard.wsgi",
                "--bind", f"127.0.0.1:{self.port}",
                "--workers", str(self.workers),
                "--threads", str(self.threads),
                "--timeout", "120",
                "--log-level", "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(self.url + "/api/v1/health", timeout=2).status_code < 500:
                    return self
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError("gunicorn did not come up")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def worker_pids(self) -> list[int]:
        assert self.process
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []

    def peak_rss_mib(self) -> float:
        """Largest peak resident set (VmHWM) of any worker process, in MiB."""
        peaks = [_vm_kib(pid, "VmHWM") for pid in self.worker_pids()]
        return max(peaks, default=0) / 1024

    def current_rss_mib(self) -> float:
        return max((_vm_kib(pid, "VmRSS") for pid in self.worker_pids()), default=0) / 1024


def _vm_kib(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def queries_of(response: requests.Response) -> int:
    """SQL queries the server spent on a response (its Server-Timing header)."""
    header = response.headers.get("Server-Timing", "")
    for part in header.split(";"):
        if part.startswith('desc="') and part.endswith(' queries"'):
            return int(part[6:].split()[0])
    return -1
