"""Servers of a test's own: a private Redis it can stop, freeze and resume (never
the shared one), the database URL a server process (gunicorn) shares with it, and
the site on an ASGI server in a thread (the board's event stream)."""

import os
import signal
import socket
import subprocess
import threading
import time
from urllib.parse import urlparse

import redis
from django.db import connection


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """redis-server on a free loopback port, persisting nothing."""

    def __init__(self):
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> "PrivateRedis":
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        """Down: connections are refused."""
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            self.process.wait(timeout=10)

    def freeze(self) -> None:
        """Hung, not refused (`kill -STOP`): connections are accepted, nothing answers."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)


def database_url_for_servers() -> str:
    """DATABASE_URL naming the test database, for a server process the test starts."""
    url = urlparse(os.environ["DATABASE_URL"])
    return url._replace(path="/" + connection.settings_dict["NAME"]).geturl()


class AsgiLiveServer:
    """The whole site on uvicorn in a thread of the test process, against the test
    database: what serves the board's event stream (shopboard/asgi.py). Static
    files come from the finders, as pytest-django's live_server serves them."""

    def __init__(self, port: int | None = None):
        import uvicorn
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
        from django.core.handlers.asgi import ASGIHandler

        self.port = port or _free_port()
        config = uvicorn.Config(
            ASGIStaticFilesHandler(ASGIHandler()),
            host="127.0.0.1",
            port=self.port,
            lifespan="off",
            log_level="warning",
            # Open streams never end by themselves: stopping closes them.
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "AsgiLiveServer":
        self.thread = threading.Thread(target=self.server.run, name="asgi-live-server", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread:
            self.thread.join(timeout=15)

    def restart(self) -> None:
        """Up again on the same address (a new server: the old one cannot start twice)."""
        self.__init__(self.port)
        self.start()
