"""9. The live board: 200 open boards of a 500-card shop, kept up to date by push
(server-sent events from uvicorn carrying the delta, or the delta fetch from
gunicorn when a board cannot apply the pushed one) and, in the
same run, by today's polling (every 3 s with If-None-Match, the whole board
after a change).

Servers, as production runs them (docs/operations.md): gunicorn with sync
workers for pages, moves and deltas, and one uvicorn process for the event
streams. The load generator is this process: 200 boards on asyncio (raw
HTTP/1.1 sockets, so the bytes counted are the bytes on the wire, headers
included), and 5 managers, each moving a random card every ~MOVE_EVERY seconds
through the board's move URL.

Commit time: the bench LISTENs on the board-change channel itself (a NOTIFY is
delivered when the writer commits), so "commit → board" does not include the
mover's own answer. A board has a change when it has what changed up to that
version (push: the event's delta applied, or the delta fetch after the event; poll: the poll that
brings the board at that version or later). Per change, "every board" is the
slowest of the 200.

Idle: 60 s (`--quick`: 15 s) with the boards open and nothing moving; the
server's CPU is read from /proc for the web processes (gunicorn master and
workers, uvicorn) and, apart, for the bench database's PostgreSQL backends.
"""

import asyncio
import gzip
import math
import os
import random
import re
import statistics
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import requests

from . import board, harness

LIVE_SHOP = 401
BOARDS = 200
# A second push run: the open boards of one shop as a big shop has them (desks, TVs, phones).
SHOP_SCREENS = 20
MANAGERS = 5
# Sessions the 200 boards share (a board is a connection, not a sign-in: 20 tabs per user).
VIEWERS = 10
MOVE_EVERY = 10.0  # seconds between one manager's moves, on average: 0.5 changes/s in the shop
POLL_SECONDS = 3.0
IDLE_SECONDS = 60.0
ACTIVE_SECONDS = 60.0
# repairs.live.BOARD_CHANGES_CHANNEL (the bench imports nothing of Django).
CHANNEL = "board_changes"
TARGET_P95_S = 1.0
STRETCH_P95_S = 0.3
TARGET_BYTES_SHARE = 0.05
TARGET_IDLE_CPU = 0.05
_CSRF_HEADER = re.compile(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'')
_VERSION_ATTR = re.compile(rb'data-board-version="(\d+)"')
_SINCE_ATTR = re.compile(r'data-board-since="(\d+)"')
_CLOCK_ATTR = re.compile(r'data-board-clock="(\d+)"')
# repairs.views.CLOCK_BUCKET_SECONDS: days in stage are drawn per 5-minute bucket.
CLOCK_BUCKET_SECONDS = 300
# board.js CLOCK_SPREAD_MS: a new bucket's whole board comes within this long.
CLOCK_SPREAD_SECONDS = 60.0


def manager_names() -> list[str]:
    return [f"bench-live-manager-{i}" for i in range(MANAGERS)]


def viewer_names() -> list[str]:
    return [f"bench-live-board-{i:02d}" for i in range(VIEWERS)]


# ---- HTTP/1.1 on asyncio sockets -----------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes  # decoded (gzip undone)
    wire_bytes: int  # status line, headers and body as received


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], int]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return status, headers, len(raw)


async def http_get(base: str, path: str, headers: dict[str, str]) -> Answer:
    """One GET on a connection of its own (gunicorn's sync workers close it after each answer)."""
    parts = urlsplit(base)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Connection: close",
            "Accept-Encoding: gzip",
        ]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        status, head, size = await _read_head(reader)
        if "content-length" in head:
            body = await reader.readexactly(int(head["content-length"]))
        else:
            body = await reader.read()  # to the end of the connection
        size += len(body)
        if head.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        return Answer(status, head, body, size)
    finally:
        writer.close()


def _app_ms(answer: Answer) -> float:
    for metric in answer.headers.get("server-timing", "").split(","):
        name, _, params = metric.strip().partition(";")
        if name == "app":
            return float(params.partition("dur=")[2] or "nan")
    return float("nan")


# ---- Open boards ---------------------------------------------------------------------------------


@dataclass
class OpenBoard:
    """One open board: the version it shows, when it got each version, the bytes it received."""

    cookie: str
    version: int
    reached: dict[int, float] = field(default_factory=dict)
    # Push only: when the stream announced each version (before the delta fetch).
    announced_at: dict[int, float] = field(default_factory=dict)
    wire_bytes: int = 0
    requests: int = 0
    errors: int = 0
    server_ms: list[float] = field(default_factory=list)  # Server-Timing `app` of its catch-ups/polls

    def shows(self, version: int) -> None:
        if version > self.version:
            now = time.monotonic()
            for v in range(self.version + 1, version + 1):
                self.reached[v] = now
            self.version = version


def clock_bucket() -> int:
    """repairs.views.clock_bucket (the bench imports nothing of Django)."""
    return int(time.time()) // CLOCK_BUCKET_SECONDS


class PushBoard(OpenBoard):
    """An EventSource and board.js's handling of each event: the delta it carries applied
    when the board is at its from-version and clock bucket, else the delta fetch."""

    def __init__(self, cookie: str, version: int, stream_base: str, web_base: str):
        super().__init__(cookie, version)
        self.stream_base, self.web_base = stream_base, web_base
        self.announced = version
        self.clock = clock_bucket()  # the board was drawn just now
        self.pushed_applied = 0  # events whose delta the board applied (no request)
        self.opened = asyncio.Event()
        self._fetching = False
        self._catch_up_task: asyncio.Task | None = None
        self._clock_task: asyncio.Task | None = None
        self.clock_refresh_bytes = 0  # the whole board after the clock bucket turned (not per change)

    async def _clock_refresh(self) -> None:
        """board.js clockRefreshSoon: the whole board at a random moment of the next minute."""
        try:
            await asyncio.sleep(random.uniform(0, CLOCK_SPREAD_SECONDS))
            answer = await http_get(
                self.web_base,
                f"/shops/{LIVE_SHOP}/board/changes/?since={self.version}&clock={self.clock}",
                {"Cookie": f"sessionid={self.cookie}", "HX-Request": "true"},
            )
            self.requests += 1
            self.clock_refresh_bytes += answer.wire_bytes
            if answer.status == 200:
                self.clock = clock_bucket()
                self.shows(int(answer.headers.get("board-version", self.version)))
            else:
                self.errors += 1
        finally:
            self._clock_task = None

    async def run(self) -> None:
        parts = urlsplit(self.stream_base)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            path = f"/shops/{LIVE_SHOP}/board/events/?since={self.version}"
            request = (
                f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n"
                f"Cookie: sessionid={self.cookie}\r\n\r\n"
            )
            writer.write(request.encode())
            status, _, size = await _read_head(reader)
            self.wire_bytes += size
            if status != 200:
                raise RuntimeError(f"the event stream answered {status}")
            self.opened.set()
            event: dict[str, str] = {}
            while True:  # chunked transfer coding
                size_line = await reader.readline()
                if not size_line:
                    return
                chunk = await reader.readexactly(int(size_line.split(b";")[0], 16) + 2)
                self.wire_bytes += len(size_line) + len(chunk)
                for line in chunk[:-2].decode().split("\n"):
                    if line:
                        name, _, value = line.partition(":")
                        value = value.removeprefix(" ")
                        if name == "data" and "data" in event:
                            event["data"] += "\n" + value
                        else:
                            event[name] = value
                    elif event:
                        if event.get("event") == "board":
                            version, _, delta = event["data"].partition("\n")
                            self._announce(int(version), delta)
                        event = {}
        finally:
            writer.close()

    def _announce(self, version: int, delta: str) -> None:
        now = time.monotonic()
        for v in range(max(self.announced, self.version) + 1, version + 1):
            self.announced_at[v] = now
        self.announced = max(self.announced, version)
        if delta and not self._fetching and version > self.version:
            since = _SINCE_ATTR.search(delta)
            clock = _CLOCK_ATTR.search(delta)
            if since and int(since.group(1)) == self.version:
                self.pushed_applied += 1
                self.shows(version)
                if clock and int(clock.group(1)) != self.clock and self._clock_task is None:
                    self._clock_task = asyncio.get_running_loop().create_task(self._clock_refresh())
                return
        if not self._fetching and self.announced > self.version:
            self._fetching = True
            # Referenced: the loop keeps only a weak reference to a task.
            self._catch_up_task = asyncio.get_running_loop().create_task(self._catch_up())

    async def _catch_up(self) -> None:
        """board.js's catch-up: what changed since the version the board shows."""
        try:
            while self.announced > self.version:
                answer = await http_get(
                    self.web_base,
                    f"/shops/{LIVE_SHOP}/board/changes/?since={self.version}&clock={self.clock}",
                    {"Cookie": f"sessionid={self.cookie}", "HX-Request": "true"},
                )
                self.requests += 1
                self.wire_bytes += answer.wire_bytes
                self.server_ms.append(_app_ms(answer))
                if answer.status not in (200, 204):
                    self.errors += 1
                    return
                if answer.headers.get("board-delta", "").startswith("whole"):
                    self.clock = clock_bucket()  # the whole board, drawn for the clock now
                self.shows(int(answer.headers.get("board-version", self.announced)))
        finally:
            self._fetching = False


class PollBoard(OpenBoard):
    """Today's board: the fragment every POLL_SECONDS with If-None-Match, 304 while nothing changed."""

    def __init__(self, cookie: str, version: int, web_base: str, etag: str):
        super().__init__(cookie, version)
        self.web_base, self.etag = web_base, etag

    async def run(self, offset: float) -> None:
        await asyncio.sleep(offset)
        while True:
            started = time.monotonic()
            answer = await http_get(
                self.web_base,
                f"/shops/{LIVE_SHOP}/board/",
                {
                    "Cookie": f"sessionid={self.cookie}",
                    **board.POLL,
                    **({"If-None-Match": self.etag} if self.etag else {}),
                },
            )
            self.requests += 1
            self.wire_bytes += answer.wire_bytes
            if answer.status == 200:
                self.server_ms.append(_app_ms(answer))
                self.etag = answer.headers.get("etag", self.etag)
                if match := _VERSION_ATTR.search(answer.body):
                    self.shows(int(match.group(1)))
            elif answer.status != 304:
                self.errors += 1
            await asyncio.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - started)))


# ---- Managers, commits, CPU ----------------------------------------------------------------------


@dataclass
class Manager:
    """A signed-in manager and what their board shows (stage and version per card)."""

    session: requests.Session
    seen: dict[int, tuple[int, int]]
    csrf: str

    @classmethod
    def open(cls, server, session: requests.Session) -> "Manager":
        page = session.get(f"{server.url}/shops/{LIVE_SHOP}/board/", timeout=120)
        page.raise_for_status()
        return cls(session, board.cards_of(page.text), _CSRF_HEADER.search(page.text).group(1))


def _move_once(server, manager: Manager, rng: random.Random) -> int:
    """A random card to a random other stage, with the version the manager's board shows; the status."""
    session, seen, csrf = manager.session, manager.seen, manager.csrf
    ro = rng.choice(sorted(seen))
    stage, version = seen[ro]
    to_stage = rng.choice([s for s in range(1, 16) if s != stage])
    try:
        response = session.post(
            f"{server.url}/shops/{LIVE_SHOP}/ros/{ro}/move/",
            data={"stage_id": to_stage, "version": version},
            headers={"HX-Request": "true", "HX-Target": f"ro-{ro}", "X-CSRFToken": csrf},
            timeout=60,
        )
        seen.update(board.cards_of(response.text))
        return response.status_code
    except requests.RequestException:
        return 0


def _manager_loop(
    server, manager: Manager, index: int, stop: threading.Event, moves: list, every: float = MOVE_EVERY
) -> None:
    """A manager moving random cards with the versions their board shows, every ~`every`
    seconds (0: the next as soon as the last is answered)."""
    rng = random.Random(1000 + index)
    while not stop.wait(rng.uniform(0.5, 1.5) * every):
        moves.append(_move_once(server, manager, rng))


async def _clock_turn(web, manager: Manager, viewer_cookies: list[str]) -> dict:
    """The clock bucket turns on 200 open boards: the next change makes every one of them
    load the whole board (days in stage moved on), all at once. Measured directly: a move
    (so no rendering of the board is cached yet), then 200 catch-ups from the bucket before."""
    await asyncio.to_thread(_move_once, web, manager, random.Random(7))
    page = await http_get(
        web.url, f"/shops/{LIVE_SHOP}/board/", {"Cookie": f"sessionid={viewer_cookies[0]}", **board.POLL}
    )
    version = int(_VERSION_ATTR.search(page.body).group(1))
    started = time.monotonic()

    async def one(cookie: str) -> tuple[float, Answer]:
        answer = await http_get(
            web.url,
            f"/shops/{LIVE_SHOP}/board/changes/?since={version - 1}&clock={clock_bucket() - 1}",
            {"Cookie": f"sessionid={cookie}", "HX-Request": "true"},
        )
        return time.monotonic() - started, answer

    answers = await asyncio.gather(*(one(viewer_cookies[i % len(viewer_cookies)]) for i in range(BOARDS)))
    times = [t for t, _ in answers]
    app_ms = [_app_ms(a) for _, a in answers]
    return {
        "boards": BOARDS,
        "whole_answers": sum(a.headers.get("board-delta", "").startswith("whole") for _, a in answers),
        "every_board_s": max(times),
        "one_board_p50_s": harness.percentile(times, 50),
        "one_board_p95_s": harness.percentile(times, 95),
        "app_ms_p50": harness.percentile(app_ms, 50),
        "app_ms_max": max(app_ms),
        "wire_bytes_per_board": sum(a.wire_bytes for _, a in answers) / BOARDS,
    }


class Commits:
    """The bench's own LISTEN: when each version of the shop's board was committed."""

    def __init__(self, database_url: str):
        self.database_url = database_url
        self.at: dict[int, float] = {}
        self.ready = asyncio.Event()

    async def run(self) -> None:
        conninfo = database_url_conninfo(self.database_url)
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            self.ready.set()
            async for notify in conn.notifies():
                shop, _, version = notify.payload.partition(":")
                if int(shop) == LIVE_SHOP:
                    self.at.setdefault(int(version), time.monotonic())


def database_url_conninfo(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


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


def _backend_pids(database_url: str) -> list[int]:
    with harness.connect(database_url) as conn:
        return [
            pid
            for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]


class CpuMeter:
    """CPU of the web processes and of the bench database's backends over a `with` block, as a
    share of one core. Per process: a backend that ends meanwhile is left out (its CPU is unknown)."""

    def __init__(self, web_pids, database_url: str):
        self.web_pids, self.database_url = web_pids, database_url

    def _read(self) -> tuple[dict[int, float], dict[int, float]]:
        web = {pid: _cpu_seconds([pid]) for pid in self.web_pids()}
        db = {pid: _cpu_seconds([pid]) for pid in _backend_pids(self.database_url)}
        return web, db

    def __enter__(self):
        self.web_before, self.db_before = self._read()
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.seconds = time.monotonic() - self.started
        web, db = self._read()
        self.web_share = sum(web[p] - self.web_before.get(p, 0.0) for p in web) / self.seconds
        self.db_share = sum(db[p] - self.db_before[p] for p in db if p in self.db_before) / self.seconds


# ---- One mode: push or poll ----------------------------------------------------------------------


def _lags(boards: list[OpenBoard], commits: dict[int, float], versions: list[int], when) -> tuple:
    """Per change: the slowest board's lag; all boards' lags; changes some board never got."""
    every, each, missed = [], [], 0
    for v in versions:
        times = [when(b).get(v) for b in boards]
        if any(t is None for t in times):
            missed += 1
            continue
        lags = [t - commits[v] for t in times]
        every.append(max(lags))
        each.extend(lags)
    return every, each, missed


def _summary(boards: list[OpenBoard], commits: dict[int, float], first: int, last: int) -> dict:
    versions = [v for v in range(first + 1, last + 1) if v in commits]
    every, each, missed = _lags(boards, commits, versions, lambda b: b.reached)
    summary = {
        "changes": len(versions),
        "changes_not_on_every_board": missed,
        "every_board_p50_s": harness.percentile(every, 50),
        "every_board_p95_s": harness.percentile(every, 95),
        "every_board_max_s": max(every, default=float("nan")),
        "one_board_p50_s": harness.percentile(each, 50),
        "one_board_p95_s": harness.percentile(each, 95),
    }
    # Push: the event alone, before the board's delta fetch.
    every, _, missed = _lags(boards, commits, versions, lambda b: b.announced_at)
    summary["event_every_board_p50_s"] = (
        harness.percentile(every, 50) if versions and not missed else math.nan
    )
    summary["event_every_board_p95_s"] = (
        harness.percentile(every, 95) if versions and not missed else math.nan
    )
    return summary


async def _phase(
    mode: str, boards: list[OpenBoard], tasks, server, managers, commits: Commits, meter, *, idle, active
) -> dict:
    await asyncio.sleep(2)  # every board open and settled
    bytes_before = sum(b.wire_bytes for b in boards)
    requests_before = sum(b.requests for b in boards)
    with meter() as idle_cpu:
        await asyncio.sleep(idle)
    idle_bytes = sum(b.wire_bytes for b in boards) - bytes_before
    idle_requests = sum(b.requests for b in boards) - requests_before

    first = max(commits.at, default=0)
    first = max(first, max(b.version for b in boards))
    bytes_before = sum(b.wire_bytes for b in boards)
    requests_before = sum(b.requests for b in boards)
    pushed_before = sum(getattr(b, "pushed_applied", 0) for b in boards)
    clock_bytes_before = sum(getattr(b, "clock_refresh_bytes", 0) for b in boards)
    for b in boards:
        b.server_ms.clear()
    stop, moves = threading.Event(), []
    movers = [
        threading.Thread(target=_manager_loop, args=(server, m, i, stop, moves), daemon=True)
        for i, m in enumerate(managers)
    ]
    with meter() as active_cpu:
        for mover in movers:
            mover.start()
        await asyncio.sleep(active)
        stop.set()
        await asyncio.to_thread(lambda: [m.join() for m in movers])
    last = max(commits.at, default=first)
    await asyncio.sleep(POLL_SECONDS + 2 if mode == "poll" else 2)  # the last change reaches the boards
    active_bytes = sum(b.wire_bytes for b in boards) - bytes_before
    clock_bytes = sum(getattr(b, "clock_refresh_bytes", 0) for b in boards) - clock_bytes_before
    active_requests = sum(b.requests for b in boards) - requests_before
    pushed_applied = sum(getattr(b, "pushed_applied", 0) for b in boards) - pushed_before
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    summary = _summary(boards, commits.at, first, last)
    changes = max(1, summary["changes"])
    return {
        **summary,
        "moves_sent": len(moves),
        "moves_accepted": moves.count(200),
        "moves_409": moves.count(409),
        "board_errors": sum(b.errors for b in boards),
        # What each board's request after a change cost in Django (delta fetch / whole-board poll).
        "fetch_server_ms_p50": harness.percentile([ms for b in boards for ms in b.server_ms], 50),
        "bytes_per_change_per_board": active_bytes / changes / len(boards),
        # Push: the whole board once per board when the clock bucket turned during the phase.
        "clock_refresh_bytes_per_board": clock_bytes / len(boards),
        # Push: how boards got their changes (a delta applied from the event, or a fetch).
        "requests_per_change_per_board": active_requests / changes / len(boards),
        "pushed_deltas_applied_per_change_per_board": pushed_applied / changes / len(boards),
        "idle_requests_per_board_per_min": idle_requests / len(boards) / idle * 60,
        "idle_bytes_per_board_per_min": idle_bytes / len(boards) / idle * 60,
        "idle_web_cpu_share": idle_cpu.web_share,
        "idle_db_cpu_share": idle_cpu.db_share,
        "active_web_cpu_share": active_cpu.web_share,
        "active_db_cpu_share": active_cpu.db_share,
    }


async def _run_modes(web, stream, database_url, viewer_cookies, managers, *, idle, active) -> dict:
    commits = Commits(database_url)
    listening = asyncio.get_running_loop().create_task(commits.run())
    await asyncio.wait_for(commits.ready.wait(), 30)
    first_page = await http_get(
        web.url, f"/shops/{LIVE_SHOP}/board/", {"Cookie": f"sessionid={viewer_cookies[0]}", **board.POLL}
    )
    version = int(_VERSION_ATTR.search(first_page.body).group(1))
    results = {}
    try:
        # Push: the web processes are gunicorn's and uvicorn's.
        boards = [
            PushBoard(viewer_cookies[i % len(viewer_cookies)], version, stream.url, web.url)
            for i in range(BOARDS)
        ]
        tasks = [asyncio.get_running_loop().create_task(b.run()) for b in boards]
        await asyncio.wait_for(asyncio.gather(*(b.opened.wait() for b in boards)), 60)
        meter = lambda: CpuMeter(lambda: [*web_pids(web), *stream.pids()], database_url)  # noqa: E731
        results["push"] = await _phase(
            "push", boards, tasks, web, managers, commits, meter, idle=idle, active=active
        )
        # The same with the boards of one busy shop's screens: fewer delta fetches per change.
        boards = [
            PushBoard(
                viewer_cookies[i % len(viewer_cookies)], max(commits.at, default=version), stream.url, web.url
            )
            for i in range(SHOP_SCREENS)
        ]
        tasks = [asyncio.get_running_loop().create_task(b.run()) for b in boards]
        await asyncio.wait_for(asyncio.gather(*(b.opened.wait() for b in boards)), 60)
        results["push_screens"] = await _phase(
            "push", boards, tasks, web, managers, commits, meter, idle=5.0, active=active
        )
        results["clock_turn"] = await _clock_turn(web, managers[0], viewer_cookies)
        # Today's polling, the same boards, from the version the push run left.
        page = await http_get(
            web.url, f"/shops/{LIVE_SHOP}/board/", {"Cookie": f"sessionid={viewer_cookies[0]}", **board.POLL}
        )
        version = int(_VERSION_ATTR.search(page.body).group(1))
        boards = [
            PollBoard(viewer_cookies[i % len(viewer_cookies)], version, web.url, page.headers.get("etag", ""))
            for i in range(BOARDS)
        ]
        tasks = [
            asyncio.get_running_loop().create_task(b.run(POLL_SECONDS * i / BOARDS))
            for i, b in enumerate(boards)
        ]
        meter = lambda: CpuMeter(lambda: web_pids(web), database_url)  # noqa: E731
        results["poll"] = await _phase(
            "poll", boards, tasks, web, managers, commits, meter, idle=idle, active=active
        )
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
    return results


def web_pids(server: harness.Server) -> list[int]:
    assert server.process
    return [server.process.pid, *server.worker_pids()]


def _full_board_gzip_bytes(server, session) -> int:
    response = session.get(
        f"{server.url}/shops/{LIVE_SHOP}/board/",
        headers={**board.POLL, "Accept-Encoding": "gzip"},
        stream=True,
        timeout=60,
    )
    return len(response.raw.read(decode_content=False))


def _moves_side_by_side(database_url: str, sessions_of, *, seconds: float, workers: int) -> dict:
    """The sync views under the two servings: moves/s of closed-loop managers on gunicorn's
    sync workers vs the whole site on uvicorn with as many processes (interleaved, twice)."""
    rates: dict[str, list[float]] = defaultdict(list)
    for _ in range(2):
        for name in ("gunicorn_sync", "uvicorn_whole_site"):
            server_cls = harness.Server if name == "gunicorn_sync" else harness.AsgiServer
            with server_cls(database_url, workers=workers) as server:
                managers = [Manager.open(server, session) for session in sessions_of(server)]
                stop, counts = threading.Event(), []
                threads = [
                    threading.Thread(target=_manager_loop, args=(server, m, i, stop, counts, 0.0))
                    for i, m in enumerate(managers)
                ]
                for thread in threads:
                    thread.start()
                time.sleep(2)  # warm up
                before, started = counts.count(200), time.monotonic()
                time.sleep(seconds)
                rate = (counts.count(200) - before) / (time.monotonic() - started)
                stop.set()
                for thread in threads:
                    thread.join()
                rates[name].append(rate)
    sync, asgi = statistics.median(rates["gunicorn_sync"]), statistics.median(rates["uvicorn_whole_site"])
    return {
        "workers": workers,
        "moves_per_s_gunicorn_sync": sync,
        "moves_per_s_uvicorn_whole_site": asgi,
        "uvicorn_over_gunicorn": asgi / sync,
    }


def run(database_url: str, *, quick: bool) -> dict:
    idle = 15.0 if quick else IDLE_SECONDS
    active = 20.0 if quick else ACTIVE_SECONDS
    workers = 2 * (os.cpu_count() or 1) + 1
    load_before = os.getloadavg()
    with (
        harness.Server(database_url, workers=workers) as web,
        harness.AsgiServer(database_url, workers=1) as stream,
    ):
        viewer_cookies = [
            harness.login(web, name, board.PASSWORD).cookies["sessionid"] for name in viewer_names()
        ]
        manager_sessions = [harness.login(web, name, board.PASSWORD) for name in manager_names()]
        full_gzip = _full_board_gzip_bytes(web, manager_sessions[0])
        cards = len(board.cards_of(manager_sessions[0].get(f"{web.url}/shops/{LIVE_SHOP}/board/").text))
        managers = [Manager.open(web, session) for session in manager_sessions]
        modes = asyncio.run(
            _run_modes(web, stream, database_url, viewer_cookies, managers, idle=idle, active=active)
        )
    serving = _moves_side_by_side(
        database_url,
        lambda server: [harness.login(server, name, board.PASSWORD) for name in manager_names()],
        seconds=8.0 if quick else 20.0,
        workers=workers,
    )
    push, poll = modes["push"], modes["poll"]
    for mode in (push, poll, modes["push_screens"]):
        mode["bytes_share_of_full_board"] = mode["bytes_per_change_per_board"] / full_gzip
    return {
        "table": [
            {"mode": "push (SSE + delta)", **push},
            {"mode": "poll 3 s (today)", **poll},
            {"mode": f"push, {SHOP_SCREENS} boards", **modes["push_screens"]},
        ],
        "boards": BOARDS,
        "managers": MANAGERS,
        "cards": cards,
        "idle_s": idle,
        "active_s": active,
        "web_workers": workers,
        "full_board_gzip_bytes": full_gzip,
        **{f"clock_turn_{k}": v for k, v in modes["clock_turn"].items()},
        **{f"serving_{k}": v for k, v in serving.items()},
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
