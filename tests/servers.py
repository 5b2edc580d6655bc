"""Servers of a test's own: a private Redis it can stop, freeze and resume (never
the shared one; the bench's, bench/harness.py), the database URL a server process
(gunicorn) shares with it, and the site on an ASGI server in a thread (the board's
event stream)."""

import os
import threading
import time
from urllib.parse import urlparse

from django.db import connection

from bench.harness import PrivateRedis, free_port

__all__ = ["AsgiLiveServer", "PrivateRedis", "database_url_for_servers"]


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

        self.port = port or free_port()
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
