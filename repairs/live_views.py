"""The board's event stream: `GET /shops/<id>/board/events/` (server-sent events).

Served by the ASGI server (shopboard/asgi.py; docs/operations.md): an open
stream is a coroutine waiting on an asyncio.Event, not a thread or a worker.
Each committed change of the shop's board (repairs.live.board_changed) reaches
it through the process's one LISTEN connection (repairs/live_listener.py) as

    id: <version>
    event: board
    data: <version>
    data: <the delta's HTML, one data: line per line> (when pushed)

An unfiltered board's event carries the delta itself (repairs/live_push.py:
rendered once per change and variant for all the process's streams), and
board.js applies it as it applies a fetched one, with no request; a board not
at the delta's from-version, or filtered, fetches what changed since its own
version (board.js, `board:changed`). A stream sends only the newest version when several changes
come together. Resuming: the browser sends the last id it saw as
`Last-Event-ID` when it reconnects by itself; a stream opened anew (the htmx
extension's own retry) carries the version the page was drawn at as `?since=`.
Either way a board behind the shop's version gets an event at once. Every
stream starts with a `live` event: the page counts push as working only once
one got through (behind a proxy that buffers, none does, and it keeps polling). A comment
line every HEARTBEAT_SECONDS keeps proxies from closing an idle stream and lets
the server notice a vanished client. A stream ends by itself after about
STREAM_MAX_SECONDS: the browser reconnects with Last-Event-ID, and the
membership, checked only when a stream opens, is checked again.

The stream holds no database connection while it is open: the membership
check and the version read are its only queries, and the shared rendering of
a pushed delta (a few queries per change, not per stream) gives its connection back.
"""

import asyncio
import random
import re
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from .forms import BoardFilterForm
from .live import board_version
from .live_listener import BoardChangeListener, Subscription, board_listener, loop_local
from .live_push import pushed_deltas
from .models import Membership
from .permissions import MOVE, membership_can, shop_member_required

EVENT_NAME = "board"
# Sent first on every stream: the client counts push as working only once an
# event got through (a buffering proxy lets the stream open but holds it).
OPEN_EVENT = "live"
HEARTBEAT_SECONDS = 15.0
# A stream ends after about this long and the browser reconnects (RETRY_MS later, with
# Last-Event-ID: nothing is missed): the membership is checked only when a stream opens,
# so someone taken out of the shop stops getting its cards within this long. Each stream's
# end is spread over the last fifth of it, so boards opened together do not reconnect together.
STREAM_MAX_SECONDS = 600.0
# How long the browser waits before reconnecting after a dropped stream (its default is ~3 s).
RETRY_MS = 1000


# What ends a line in an event stream (the SSE format): not str.splitlines(), which also
# cuts at U+2028, U+0085, \x1c… that a card's text may hold and the browser would not.
_EVENT_LINE_END = re.compile(r"\r\n|\r|\n")


def event_text(version: int, delta_html: str = "") -> str:
    """A board event: `data:` the version, then (pushed) the delta's lines, one `data:` line each."""
    lines = [str(version), *_EVENT_LINE_END.split(delta_html)] if delta_html else [str(version)]
    data = "".join(f"data: {line}\n" for line in lines)
    return f"id: {version}\nevent: {EVENT_NAME}\n{data}\n"


def _resume_point(request) -> int | None:
    """The version the board last saw: Last-Event-ID first (the browser's own reconnect), then ?since=."""
    for value in (request.headers.get("Last-Event-ID", ""), request.GET.get("since", "")):
        # isdecimal, not isdigit: "²" is a digit that int() refuses.
        if value.strip().isdecimal():
            return int(value)
    return None


def _version_and_release(shop_id: int) -> int:
    version = board_version(shop_id=shop_id)
    # The stream may stay open for hours: give the connection back now.
    for connection in connections.all(initialized_only=True):
        connection.close()
    return version


# Streams opening at the same moment (200 boards reconnecting after a deploy) each read
# the session, the membership and the version on a database connection of their own (one
# thread per request under ASGI) before giving it back: at most this many at once per
# process, so a burst of reconnects cannot exhaust PostgreSQL's max_connections.
OPENING_AT_ONCE = 8
_opening: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


def _opening_slots() -> asyncio.Semaphore:
    return loop_local(_opening, lambda: asyncio.Semaphore(OPENING_AT_ONCE))


async def board_events(request, shop_id: int) -> HttpResponse:
    async with _opening_slots():
        return await _board_events_open(request, shop_id=shop_id)


@require_GET
@shop_member_required()
async def _board_events_open(request, *, membership: Membership) -> HttpResponse:
    if not isinstance(request, ASGIRequest):
        # Under WSGI (gunicorn's sync workers, runserver) an endless response would
        # hold a worker for as long as the board is open. Refused, the page polls.
        return HttpResponse(
            "The board's event stream is served by the ASGI server.", status=503, content_type="text/plain"
        )
    listener = board_listener()
    # Subscribed before the version is read: a change committed in between is not missed.
    subscription = listener.subscribe(membership.shop_id)
    try:
        current = await sync_to_async(_version_and_release)(membership.shop_id)
    except BaseException:
        listener.unsubscribe(subscription)
        raise
    resume = _resume_point(request)
    # A board that carries a search or quick filter (its page's query, on the stream's
    # URL) fetches its own delta: a pushed one is drawn for the unfiltered board.
    pushing = not BoardFilterForm(request.GET).board_filter().active
    events = _events(
        listener,
        subscription,
        current=current,
        resume=resume,
        pushing=pushing,
        can_move=membership_can(membership, MOVE),
    )
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache, no-store"
    # nginx: pass each event on at once, whatever `proxy_buffering` says (docs/operations.md).
    response["X-Accel-Buffering"] = "no"
    return response


async def _events(
    listener: BoardChangeListener,
    subscription: Subscription,
    *,
    current: int,
    resume: int | None,
    pushing: bool,
    can_move: bool,
) -> AsyncIterator[str]:
    try:
        announced = max(current, subscription.version)  # a change may have come while reading
        # A board from the future (a restored database) is behind too: it gets the current version.
        start = current if resume is None else (resume if resume <= current else -1)
        subscription.version = start
        subscription.changed.clear()
        # The `live` event carries the version the board is known to have as its id, so
        # the browser's own reconnect resumes from there (Last-Event-ID) even if no
        # change comes before the connection drops.
        resume_id = f"id: {start}\n" if start >= 0 else ""
        yield f"retry: {RETRY_MS}\n{resume_id}event: {OPEN_EVENT}\ndata: {current}\n\n"
        subscription.offer(announced)
        # The version the board shows, as far as this stream knows: the last one it sent.
        # A board resumed behind the shop gets a plain event first (it fetches what it
        # missed); from then on each change comes with its delta, which board.js applies
        # only when the board is at the delta's from-version.
        sent = start
        push_next = pushing and start == current
        pushed = pushed_deltas()
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + STREAM_MAX_SECONDS * random.uniform(0.8, 1.0)
        while True:
            if (left := ends_at - loop.time()) <= 0:
                return  # the browser reconnects, and its membership is checked again
            try:
                async with asyncio.timeout(min(HEARTBEAT_SECONDS, left)):
                    await subscription.changed.wait()
            except TimeoutError:
                if loop.time() < ends_at:
                    yield ": heartbeat\n\n"
                continue
            subscription.changed.clear()
            target = subscription.version
            if target <= sent:
                continue  # already sent with an earlier delta that reached past it
            delta = None
            if push_next:
                delta = await pushed.get(
                    shop_id=subscription.shop_id, since=sent, version=target, can_move=can_move
                )
            if delta is not None and delta.version >= target:
                yield event_text(delta.version, delta.html)
                sent = delta.version
            else:
                yield event_text(target)
                sent = target
            push_next = pushing
    finally:
        listener.unsubscribe(subscription)
