"""The board's event stream (server-sent events) over real HTTP on uvicorn, fed by
PostgreSQL LISTEN/NOTIFY: who may open it, what it sends after a committed (and
a rolled-back) change, resuming from Last-Event-ID or ?since=, the heartbeat, and
the listener finding its way back after its connection is killed."""

import concurrent.futures
import contextlib
import queue
import socket
import threading
import time
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
from django.db import connection, transaction

from repairs import live_push, live_views, services
from repairs.live import board_version
from repairs.models import Membership
from tests import factories
from tests.board.conftest import signed_in

LISTENER_APP = "shopboard-board-listener"


def events_url(server, shop_id: int = 33) -> str:
    return f"{server.url}/shops/{shop_id}/board/events/"


def session_of(user) -> requests.Session:
    """A requests session carrying a signed-in Django session cookie."""
    session = requests.Session()
    session.cookies.set("sessionid", signed_in(user).cookies["sessionid"].value)
    return session


class EventStream:
    """An open stream, read in a thread: its events (and comments) as they arrive.

    Over a plain socket, so closing it ends the TCP connection at once and the
    server sees the client go (as when a browser tab closes)."""

    def __init__(self, session: requests.Session, url: str, headers: dict | None = None):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
        lines = [
            f"GET {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1",
            f"Host: {parts.netloc}",
        ]
        lines += ["Accept: text/event-stream", f"Cookie: {cookie}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        # HTTP header values are ISO-8859-1 (as the server decodes them).
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self.file = self.sock.makefile("rb")
        self.status_code = int(self.file.readline().split()[1])
        self.headers: dict[str, str] = {}
        while (line := self.file.readline().decode().strip()) != "":
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.sock.settimeout(None)
        self.lines: queue.Queue[str] = queue.Queue()
        self.ended = threading.Event()  # the response's body came to its end (or the test closed it)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        """Chunked transfer coding in, event-stream lines out."""
        pending = b""
        try:
            while size := int(self.file.readline().split(b";")[0] or b"0", 16):
                pending += self.file.read(size)
                self.file.readline()
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    self.lines.put(line.decode())
        except (OSError, ValueError):  # closed by the test
            pass
        finally:
            self.ended.set()

    def next_message(self, timeout: float) -> dict | None:
        """The next event or comment block, as {field: value}; None if none came in time."""
        deadline = time.monotonic() + timeout
        message: dict[str, str] = {}
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if line == "":
                if message:
                    return message
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data" and "data" in message:
                message["data"] += "\n" + value  # the data lines of one event, joined (as EventSource does)
            else:
                message[name or "comment"] = value.strip()

    def next_board_event(self, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.next_message(left)
            if message is None:
                return None
            if message.get("event") == live_views.EVENT_NAME:
                return message
        return None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


@pytest.fixture
def open_streams():
    streams: list[EventStream] = []

    def open_(*args, **kwargs) -> EventStream:
        stream = EventStream(*args, **kwargs)
        streams.append(stream)
        return stream

    yield open_
    for stream in streams:
        stream.close()


def _opened(stream: EventStream) -> dict:
    """The first message: the retry delay and the `live` event with the shop's version
    (its id: the version the board is known to have, where a reconnect resumes from)."""
    first = stream.next_message(10)
    assert first is not None and first["event"] == live_views.OPEN_EVENT, first
    assert first["retry"] == str(live_views.RETRY_MS)
    return first


def _move(ro, manager, stage_id: int) -> int:
    services.repair_order_move(repair_order_id=ro.id, stage_id=stage_id, source="board", user=manager)
    return board_version(shop_id=ro.shop_id)


def test_a_committed_move_reaches_every_open_stream_of_the_shop(
    asgi_live_server, manager, viewer, open_streams
):
    ro = factories.make_repair_order(shop=manager.memberships.first().shop)
    streams = [open_streams(session_of(user), events_url(asgi_live_server)) for user in (manager, viewer)]
    for stream in streams:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["x-accel-buffering"] == "no"
        _opened(stream)
    version = _move(ro, manager, 7)
    for stream in streams:
        event = stream.next_board_event(5)
        assert (event["id"], event["event"]) == (str(version), "board")
        assert event["data"].split("\n")[0] == str(version)


def test_a_rolled_back_change_sends_nothing(asgi_live_server, manager, open_streams):
    ro = factories.make_repair_order(shop=manager.memberships.first().shop)
    stream = open_streams(session_of(manager), events_url(asgi_live_server))
    _opened(stream)
    before = board_version(shop_id=ro.shop_id)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.repair_order_move(repair_order_id=ro.id, stage_id=7, source="board", user=manager)
        raise RuntimeError("the writer fails after its change")
    assert stream.next_board_event(2) is None
    assert board_version(shop_id=ro.shop_id) == before
    # ...and the next committed one still arrives.
    version = _move(ro, manager, 8)
    assert stream.next_board_event(5)["id"] == str(version)


def test_another_shops_change_is_not_sent(asgi_live_server, manager, outsider, open_streams):
    theirs = factories.make_repair_order(shop=outsider.memberships.first().shop)
    stream = open_streams(session_of(manager), events_url(asgi_live_server))
    _opened(stream)
    services.repair_order_move(repair_order_id=theirs.id, stage_id=7, source="board", user=outsider)
    assert stream.next_board_event(2) is None


@pytest.mark.parametrize("resume", ["last-event-id", "since"])
def test_a_stream_resumed_behind_the_shop_gets_the_missed_version_at_once(
    asgi_live_server, manager, open_streams, resume
):
    ro = factories.make_repair_order(shop=manager.memberships.first().shop)
    seen = _move(ro, manager, 3)
    _move(ro, manager, 4)
    latest = _move(ro, manager, 5)  # two changes made while the board was away
    url, headers = events_url(asgi_live_server), {}
    if resume == "last-event-id":
        headers["Last-Event-ID"] = str(seen)
    else:
        url += f"?since={seen}"
    stream = open_streams(session_of(manager), url, headers)
    opened = _opened(stream)
    assert (opened["id"], opened["data"]) == (str(seen), str(latest))
    assert stream.next_board_event(2) == {"id": str(latest), "event": "board", "data": str(latest)}


def test_a_stream_resumed_at_the_current_version_waits_for_the_next_change(
    asgi_live_server, manager, open_streams
):
    ro = factories.make_repair_order(shop=manager.memberships.first().shop)
    current = _move(ro, manager, 3)
    stream = open_streams(session_of(manager), events_url(asgi_live_server), {"Last-Event-ID": str(current)})
    assert _opened(stream)["id"] == str(current)
    assert stream.next_board_event(1.5) is None
    version = _move(ro, manager, 4)
    assert stream.next_board_event(5)["id"] == str(version)


def test_an_idle_stream_sends_a_heartbeat_comment(asgi_live_server, manager, open_streams, monkeypatch):
    monkeypatch.setattr(live_views, "HEARTBEAT_SECONDS", 0.5)
    stream = open_streams(session_of(manager), events_url(asgi_live_server))
    _opened(stream)
    assert stream.next_message(5) == {"comment": "heartbeat"}


@pytest.mark.parametrize(
    ("who", "status"),
    [("outsider", 404), ("anonymous", 302)],
)
def test_the_stream_is_refused_outside_the_shop(asgi_live_server, outsider, shop, who, status):
    session = session_of(outsider) if who == "outsider" else requests.Session()
    response = session.get(events_url(asgi_live_server), allow_redirects=False, stream=True, timeout=10)
    assert response.status_code == status
    assert not response.headers.get("Content-Type", "").startswith("text/event-stream")
    if who == "anonymous":
        assert response.headers["Location"].startswith("/accounts/login/?next=/shops/33/board/events/")


def _server_connections() -> int:
    """The test server's database connections (its one LISTEN connection aside)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND application_name <> %s",
            [LISTENER_APP],
        )
        return cursor.fetchone()[0]


def _server_connections_down_to(count: int, timeout: float = 10) -> int:
    """The server's connections once they are `count` or fewer (or the timeout passed): a
    backend leaves pg_stat_activity a moment after its client closed the connection."""
    deadline = time.monotonic() + timeout
    while (now := _server_connections()) > count and time.monotonic() < deadline:
        time.sleep(0.05)
    return now


def test_an_open_stream_holds_no_database_connection(asgi_live_server, manager, open_streams):
    before = _server_connections()
    for _ in range(5):
        _opened(open_streams(session_of(manager), events_url(asgi_live_server)))
    assert _server_connections_down_to(before) <= before


def test_open_streams_hold_no_database_connection_after_pushing_a_delta(
    asgi_live_server, manager, viewer, open_streams
):
    ro = factories.make_repair_order(shop=manager.memberships.first().shop, stage_id=1)
    before = _server_connections()
    streams = [open_streams(session_of(user), events_url(asgi_live_server)) for user in (manager, viewer) * 2]
    for stream in streams:
        _opened(stream)
    _move(ro, manager, 7)
    for stream in streams:
        assert _delta_of(stream.next_board_event(5))
    assert _server_connections_down_to(before) <= before


def _listener_pids(dsn: str) -> list[int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [
            pid
            for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
                [LISTENER_APP],
            )
        ]


def test_the_listener_reconnects_after_its_connection_is_killed_and_boards_catch_up(
    asgi_live_server, manager, open_streams
):
    ro = factories.make_repair_order(shop=manager.memberships.first().shop)
    stream = open_streams(session_of(manager), events_url(asgi_live_server))
    _opened(stream)
    dsn = psycopg.conninfo.make_conninfo(
        **{k: v for k, v in connection.get_connection_params().items() if isinstance(v, str | int)}
    )
    [killed] = _listener_pids(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", [killed])
    # A change committed while the listener is deaf (or reconnecting) still reaches the board.
    version = _move(ro, manager, 9)
    event = stream.next_board_event(10)
    assert (event["id"], event["data"].split("\n")[0]) == (str(version), str(version))
    deadline = time.monotonic() + 10
    while (pids := _listener_pids(dsn)) in ([], [killed]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(pids) == 1 and pids != [killed]
    # ...and it listens again: the next change comes through as usual.
    version = _move(ro, manager, 10)
    assert stream.next_board_event(5)["id"] == str(version)


def test_under_wsgi_the_stream_is_refused_rather_than_holding_a_worker(manager):
    # The test client is WSGI, like gunicorn's sync workers: the page then polls.
    response = signed_in(manager).get("/shops/33/board/events/")
    assert response.status_code == 503
    assert not response.streaming


# ---- The delta inside the event (repairs/live_push.py) ---------------------------------------------------


def _delta_of(event: dict) -> str:
    """The HTML after the version line of a board event ('' for a plain event)."""
    return event["data"].partition("\n")[2]


def test_the_event_carries_the_one_card_delta_from_the_version_the_board_shows(
    asgi_live_server, manager, open_streams
):
    shop = manager.memberships.first().shop
    ro, other = (factories.make_repair_order(shop=shop, stage_id=1) for _ in range(2))
    before = _move(other, manager, 3)
    stream = open_streams(session_of(manager), events_url(asgi_live_server))
    _opened(stream)
    version = _move(ro, manager, 7)
    delta = _delta_of(stream.next_board_event(5))
    assert f'data-board-version="{version}" data-board-since="{before}"' in delta
    # The one card, drawn in its new column for a manager, and the counts of the columns it left and entered.
    assert delta.count('<article class="card') == 1
    assert f'id="ro-{ro.id}"' in delta and 'data-stage-id="7"' in delta
    assert f'data-move-url="/shops/33/ros/{ro.id}/move/"' in delta
    assert f'id="move-{ro.id}"' in delta
    assert 'id="count-stage-7" class="column__count" hx-swap-oob="true">1<' in delta
    assert 'id="count-stage-1" class="column__count" hx-swap-oob="true">0<' in delta
    assert 'id="board-stats"' in delta
    # The next change: the counts of the two columns it involves, not all 15.
    _move(ro, manager, 8)
    delta = _delta_of(stream.next_board_event(5))
    assert f'data-board-since="{version}"' in delta and "\n" not in delta  # one data line
    assert delta.count('class="column__count"') == 2
    assert 'id="count-stage-7" class="column__count" hx-swap-oob="true">0<' in delta
    assert 'id="count-stage-8" class="column__count" hx-swap-oob="true">1<' in delta


def test_the_event_delta_keeps_text_that_python_but_not_the_browser_counts_as_a_line_break(
    asgi_live_server, manager, open_streams
):
    # An event's data lines end only at CR, LF or CRLF (the SSE format): a card's text with a
    # U+2028 (pasted from a phone or a PDF) must not be cut into two data lines there,
    # which the browser would join with a newline.
    shop = manager.memberships.first().shop
    ro = factories.make_repair_order(shop=shop, stage_id=1, customer_last_name="Took\u2028Baggins\x1cJr")
    stream = open_streams(session_of(manager), events_url(asgi_live_server))
    _opened(stream)
    _move(ro, manager, 7)
    delta = _delta_of(stream.next_board_event(5))
    assert "Took\u2028Baggins\x1cJr" in delta


def test_the_event_delta_escapes_what_a_card_shows(asgi_live_server, manager, open_streams):
    shop = manager.memberships.first().shop
    ro = factories.make_repair_order(
        shop=shop, stage_id=1, customer_last_name='<script>alert("x")</script>', insurance_name="A&B 'Mutual'"
    )
    stream = open_streams(session_of(manager), events_url(asgi_live_server))
    _opened(stream)
    _move(ro, manager, 7)
    delta = _delta_of(stream.next_board_event(5))
    assert "<script>" not in delta
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in delta
    assert "A&amp;B &#x27;Mutual&#x27;" in delta


def test_a_viewers_event_delta_has_no_move_controls(asgi_live_server, manager, viewer, open_streams):
    ro = factories.make_repair_order(shop=manager.memberships.first().shop, stage_id=1)
    stream = open_streams(session_of(viewer), events_url(asgi_live_server))
    _opened(stream)
    _move(ro, manager, 7)
    delta = _delta_of(stream.next_board_event(5))
    assert f'id="ro-{ro.id}"' in delta
    assert "data-move-url" not in delta and "card__move" not in delta and "data-movable" not in delta


def test_a_filtered_boards_stream_sends_the_plain_version_event(asgi_live_server, manager, open_streams):
    ro = factories.make_repair_order(shop=manager.memberships.first().shop, stage_id=1)
    stream = open_streams(session_of(manager), events_url(asgi_live_server) + "?since=&q=Subaru")
    _opened(stream)
    version = _move(ro, manager, 7)
    assert stream.next_board_event(5) == {"id": str(version), "event": "board", "data": str(version)}


def test_a_stream_resumed_behind_sends_a_plain_event_then_deltas_again(
    asgi_live_server, manager, open_streams
):
    ro = factories.make_repair_order(shop=manager.memberships.first().shop, stage_id=1)
    seen = _move(ro, manager, 3)
    _move(ro, manager, 4)
    latest = _move(ro, manager, 5)
    stream = open_streams(session_of(manager), events_url(asgi_live_server), {"Last-Event-ID": str(seen)})
    _opened(stream)
    # Not a one-step delta (it would skip the change the board missed): the board fetches.
    assert stream.next_board_event(5) == {"id": str(latest), "event": "board", "data": str(latest)}
    version = _move(ro, manager, 6)
    assert f'data-board-since="{latest}"' in _delta_of(stream.next_board_event(5))
    assert version == latest + 1


def test_streams_waiting_on_one_change_share_one_rendering_per_variant(
    asgi_live_server, manager, viewer, open_streams
):
    ro = factories.make_repair_order(shop=manager.memberships.first().shop, stage_id=1)
    users = [manager] * 4 + [viewer] * 3
    streams = [open_streams(session_of(user), events_url(asgi_live_server)) for user in users]
    for stream in streams:
        _opened(stream)
    renders_before = sum(pushed.renders for pushed in live_push._pushed.values())
    _move(ro, manager, 7)
    deltas = [_delta_of(stream.next_board_event(5)) for stream in streams]
    assert all(deltas) and len(set(deltas)) == 2  # a mover's and a viewer's
    assert sum(pushed.renders for pushed in live_push._pushed.values()) - renders_before == 2


# ---- A client that goes away: nothing of its stream is left behind ----------------------------------------


def _server_listeners() -> list:
    from repairs import live_listener

    return list(live_listener._listeners.values())


def _streams_left(timeout: float = 10) -> int:
    """The server's subscribed streams, once the closed ones are gone (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while (
        left := sum(listener.streams() for listener in _server_listeners())
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_a_stream_whose_client_goes_away_is_unsubscribed(asgi_live_server, manager, open_streams):
    streams = [open_streams(session_of(manager), events_url(asgi_live_server)) for _ in range(3)]
    for stream in streams:
        _opened(stream)
    assert sum(listener.streams() for listener in _server_listeners()) == 3
    for stream in streams:
        stream.close()
    assert _streams_left() == 0


def test_a_client_gone_before_its_stream_started_leaves_no_subscription(transactional_db, manager):
    """The client hangs up after the view answered but before the first event was sent
    (the response's head still on its way): the stream's body never runs."""
    import asyncio
    import gc

    from django.core.handlers.asgi import ASGIHandler

    from repairs import live_listener

    cookie = signed_in(manager).cookies["sessionid"].value

    async def go() -> int:
        head_sent = asyncio.Event()

        async def receive():
            if not head_sent.is_set() and not hasattr(receive, "asked"):
                receive.asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await head_sent.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                assert message["status"] == 200
                head_sent.set()
                await asyncio.Event().wait()  # the client is gone: this send never completes

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/shops/33/board/events/",
            "raw_path": b"/shops/33/board/events/",
            "query_string": b"",
            "headers": [(b"host", b"testserver"), (b"cookie", f"sessionid={cookie}".encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        await ASGIHandler()(scope, receive, send)
        listener = live_listener.board_listener()
        gc.collect()  # whatever the aborted request left in reference cycles
        left = listener.streams()
        await listener.stop()
        return left

    # A loop of its own, in a thread: the browser tests' Playwright may run one in this thread.
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        assert thread.submit(asyncio.run, go()).result(timeout=60) == 0


@pytest.mark.parametrize("resume", [{"Last-Event-ID": "\u00b2"}, {"Last-Event-ID": " "}, "?since=%C2%B2"])
def test_a_resume_point_that_is_no_number_opens_the_stream_at_the_current_version(
    asgi_live_server, manager, open_streams, resume
):
    ro = factories.make_repair_order(shop=manager.memberships.first().shop)
    current = _move(ro, manager, 3)
    url, headers = events_url(asgi_live_server), {}
    if isinstance(resume, str):
        url += resume
    else:
        headers = resume
    stream = open_streams(session_of(manager), url, headers)
    assert stream.status_code == 200
    assert _opened(stream)["id"] == str(current)


def test_a_stream_ends_by_itself_so_a_member_removed_meanwhile_is_refused_at_the_reconnect(
    asgi_live_server, manager, open_streams, monkeypatch
):
    # The membership is checked when a stream opens: an open board of someone no longer in
    # the shop must not go on receiving its cards for as long as the tab stays open.
    monkeypatch.setattr(live_views, "STREAM_MAX_SECONDS", 1.0)
    stream = open_streams(session_of(manager), events_url(asgi_live_server))
    opened = _opened(stream)
    Membership.objects.filter(user=manager).delete()
    assert stream.ended.wait(10)
    # The browser reconnects by itself, with the last id it saw: refused now.
    again = open_streams(session_of(manager), events_url(asgi_live_server), {"Last-Event-ID": opened["id"]})
    assert again.status_code == 404


def test_a_stream_that_ended_by_itself_resumes_with_nothing_missed(
    asgi_live_server, manager, open_streams, monkeypatch
):
    monkeypatch.setattr(live_views, "STREAM_MAX_SECONDS", 1.0)
    ro = factories.make_repair_order(shop=manager.memberships.first().shop)
    stream = open_streams(session_of(manager), events_url(asgi_live_server))
    opened = _opened(stream)
    assert stream.ended.wait(10)
    version = _move(ro, manager, 7)  # while the browser waits to reconnect
    again = open_streams(session_of(manager), events_url(asgi_live_server), {"Last-Event-ID": opened["id"]})
    _opened(again)
    assert again.next_board_event(5)["id"] == str(version)


def test_the_listener_gives_up_on_a_server_that_takes_the_connection_but_never_answers(db, monkeypatch):
    """A hung PostgreSQL must cost the boards a reconnect, not the listener for ever:
    libpq has no timeout of its own while it waits for the server's first answer."""
    from repairs import live_listener

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # the kernel completes the handshake; nobody ever answers
    monkeypatch.setattr(live_listener, "CONNECT_TIMEOUT_SECONDS", 2)
    settings_dict = live_listener.connections["default"].settings_dict
    monkeypatch.setitem(settings_dict, "HOST", "127.0.0.1")
    monkeypatch.setitem(settings_dict, "PORT", str(silent.getsockname()[1]))
    outcome: queue.Queue = queue.Queue()

    def connect() -> None:
        try:
            psycopg.connect(live_listener._conninfo()).close()
            outcome.put("connected")
        except psycopg.OperationalError as exc:
            outcome.put(exc)

    threading.Thread(target=connect, daemon=True).start()
    try:
        result = outcome.get(timeout=15)
    finally:
        silent.close()
    assert isinstance(result, psycopg.OperationalError)
