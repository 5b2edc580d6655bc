"""One `LISTEN board_changes` connection per server process, fanned out to that
process's board streams (repairs/live_views.py; docs/board.md "Push").

`repairs.live.board_changed` queues `pg_notify('board_changes', '<shop>:<version>')`
in every writer's transaction; PostgreSQL delivers it on commit, never for a
rolled-back one. This listener keeps, per shop, the subscriptions of the streams
open in this process and wakes them with the newest version: a stream that is
slow to send coalesces several changes into one event (the board fetches what
changed since its own version anyway). An idle stream costs an asyncio.Event and
no database query; the process's one connection costs PostgreSQL one backend.

The listener runs in the event loop of the ASGI server. When its connection is
lost (PostgreSQL restarted, a failover, pg_terminate_backend) it connects again
with a bounded backoff and then reads the current version of every shop it has
streams for, so boards catch up on what was committed while it was deaf. It
checks its connection with a `SELECT 1` every LIVENESS_SECONDS (psycopg's
`notifies(timeout=)` is a deadline, not an idle time), so a half-open TCP
connection is found within that long.
"""

import asyncio
import contextlib
import logging
import weakref
from collections import defaultdict
from collections.abc import Callable

import psycopg
from django.db import connections
from psycopg import sql

from .live import BOARD_CHANGES_CHANNEL
from .models import BoardVersion

logger = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0
LIVENESS_SECONDS = 30.0
# A server that takes the TCP connection but never answers (a hung PostgreSQL, a
# half-dead failover) must not leave every board of the process deaf: libpq waits
# for ever without it.
CONNECT_TIMEOUT_SECONDS = 10


class Subscription:
    """One open stream's view of its shop: the newest version announced, and a flag to wake it."""

    __slots__ = ("shop_id", "version", "changed", "__weakref__")

    def __init__(self, shop_id: int) -> None:
        self.shop_id = shop_id
        self.version = 0
        self.changed = asyncio.Event()

    def offer(self, version: int) -> None:
        if version > self.version:
            self.version = version
            self.changed.set()


_DJANGO_OPTIONS = {
    "isolation_level", "server_side_binding", "assume_role", "pool", "cursor_factory", "context", "prepare_threshold",
}  # fmt: skip


def _conninfo() -> str:
    """The default database's address, as Django connects to it (libpq keywords)."""
    settings_dict = connections["default"].settings_dict
    params = {
        "dbname": settings_dict["NAME"],
        "user": settings_dict["USER"],
        "password": settings_dict["PASSWORD"],
        "host": settings_dict["HOST"],
        "port": settings_dict["PORT"],
        # A silent network partition must end the connection, not hang it forever.
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "application_name": "shopboard-board-listener",
    }
    # libpq's own options (sslmode, …); Django's backend options are not connection keywords.
    params.update(
        {
            k: v
            for k, v in settings_dict.get("OPTIONS", {}).items()
            if k not in _DJANGO_OPTIONS and isinstance(v, str | int)
        }
    )
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v not in ("", None)})


class BoardChangeListener:
    """The process's LISTEN connection and the subscriptions it feeds (one per event loop)."""

    def __init__(self) -> None:
        # Held weakly: a stream unsubscribes when it ends, but a stream whose client went
        # away before its first event never runs (its generator is dropped unstarted, so its
        # `finally` never comes); its subscription goes with the dropped stream.
        self._subscriptions: dict[int, weakref.WeakSet[Subscription]] = defaultdict(weakref.WeakSet)
        self._task: asyncio.Task | None = None

    def subscribe(self, shop_id: int) -> Subscription:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="board-change-listener")
        # Shops whose every subscription was dropped unstarted (see __init__) are forgotten here.
        for gone in [shop for shop, subscriptions in self._subscriptions.items() if not subscriptions]:
            del self._subscriptions[gone]
        subscription = Subscription(shop_id)
        self._subscriptions[shop_id].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        shop = self._subscriptions.get(subscription.shop_id)
        if shop is not None:
            shop.discard(subscription)
            if not shop:
                del self._subscriptions[subscription.shop_id]

    def streams(self) -> int:
        return sum(len(s) for s in self._subscriptions.values())

    def dispatch(self, payload: str) -> None:
        shop_id, _, version = payload.partition(":")
        try:
            shop, number = int(shop_id), int(version)
        except ValueError:
            logger.warning("Ignored a malformed %s notification", BOARD_CHANGES_CHANNEL)
            return
        for subscription in self._subscriptions.get(shop, ()):
            subscription.offer(number)

    async def _run(self) -> None:
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(_conninfo(), autocommit=True) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(BOARD_CHANGES_CHANNEL)))
                    # After LISTEN, so nothing committed from here on is missed:
                    # whatever was committed while this process was not listening.
                    await self._catch_up(conn)
                    delay = RETRY_FIRST_SECONDS
                    while True:
                        async for notify in conn.notifies(timeout=LIVENESS_SECONDS):
                            self.dispatch(notify.payload)
                        await conn.execute("SELECT 1")
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                logger.warning("Board change listener lost its connection (%s); again in %.1f s", exc, delay)
            except Exception:
                # Anything else (a bug, a bad payload) must not end the listener
                # for the life of the process: the boards would go deaf silently.
                logger.exception("Board change listener failed; again in %.1f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def _catch_up(self, conn: psycopg.AsyncConnection) -> None:
        shops = list(self._subscriptions)
        if not shops:
            return
        # On the listener's own connection: a Django connection opened from this
        # long-lived task would stay checked out for the life of the process.
        table = sql.Identifier(BoardVersion._meta.db_table)
        cursor = await conn.execute(
            sql.SQL("SELECT shop_id, version FROM {} WHERE shop_id = ANY(%s)").format(table), [shops]
        )
        for shop_id, version in await cursor.fetchall():
            for subscription in self._subscriptions.get(shop_id, ()):
                subscription.offer(version)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def loop_local[T](registry: dict[asyncio.AbstractEventLoop, T], make: Callable[[], T]) -> T:
    """The running event loop's own object in `registry`, made on first use. One loop per
    server process; a test server's thread has a loop of its own, and a closed loop's
    object is dropped (its asyncio objects cannot be used on another loop)."""
    loop = asyncio.get_running_loop()
    for stale in [other for other in registry if other.is_closed()]:
        del registry[stale]
    if loop not in registry:
        registry[loop] = make()
    return registry[loop]


_listeners: dict[asyncio.AbstractEventLoop, BoardChangeListener] = {}


def board_listener() -> BoardChangeListener:
    """This event loop's listener (loop_local)."""
    return loop_local(_listeners, BoardChangeListener)
