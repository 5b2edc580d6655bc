"""The delta sent inside a board event (issue 13; repairs/live_views.py).

After a change, every open board of the shop needs the same few cards. Fetched,
that is one Django request per board (200 boards of a shop: 200 requests queued
on the web server after each move). Pushed, the stream process renders the delta
ONCE per (shop, from-version, to-version, can_move, clock bucket) and every
stream waiting on that change sends the same text: the first stream to ask starts
the rendering (a thread, sync_to_async), the others await the same task.

What a pushed delta is: the fragment `views.board_changes` answers a fetch with
(`views.delta_render`, one template), for an unfiltered board, labelled with the
version it starts from (`data-board-since`) and its clock bucket; board.js applies
it only to a board at exactly that version, and fetches otherwise (a delta of a
newer clock bucket is applied, and the whole board follows: clockRefreshSoon). It
is read in one REPEATABLE READ snapshot, so its version, cards and counts are of
one moment. Counts: the absolute counts of the columns involved, i.e. those of the
changed cards and those whose count differs from this process's previous rendering
at the from-version (all columns when it has none), not a diff against what each
board says it shows.

None (the stream sends the plain version event and the board fetches) when the
change is not one for a delta: a redraw, too many cards, a board from before the
clock bucket turned.
"""

import asyncio
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.db import connection, connections, transaction
from django.utils import timezone

from . import deltas, live
from .cards import cards_decorate
from .live_listener import loop_local
from .models import Shop
from .selectors import BoardFilter
from .views import CLOCK_BUCKET_SECONDS, delta_render

logger = logging.getLogger(__name__)

# Renderings kept per process (a few changes of a few shops × 2 variants): a stream
# behind by one change still finds its one.
RENDERS_KEPT = 64
# Column counts kept per process, by (shop, version): what the next delta compares with.
COUNTS_KEPT = 64

UNFILTERED = BoardFilter()


@dataclass(frozen=True)
class PushedDelta:
    since: int
    version: int
    html: str


type RenderKey = tuple[int, int, int, bool, int]  # shop, since, version, can_move, clock bucket


class PushedDeltas:
    """The process's renderings of pushed deltas, shared by its streams (one per event loop)."""

    def __init__(self) -> None:
        self._renders: OrderedDict[RenderKey, asyncio.Future] = OrderedDict()
        # Touched in the render threads: a rendering runs on the thread of the request of
        # the stream that asked first (asgiref's thread per request context), so two
        # changes' renderings may run at once. Each dict operation is atomic under the
        # GIL; at worst an entry is evicted early, and a delta then carries all counts.
        self._counts: OrderedDict[tuple[int, int], dict[int, int]] = OrderedDict()
        self.renders = 0  # renderings made (tests and the bench read it)

    async def get(self, *, shop_id: int, since: int, version: int, can_move: bool) -> PushedDelta | None:
        """The delta of the shop's board from `since` to `version` or later, drawn for a
        mover or not; None when the board should fetch instead."""
        clock = int(timezone.now().timestamp()) // CLOCK_BUCKET_SECONDS
        key = (shop_id, since, version, can_move, clock)
        task = self._renders.get(key)
        if task is None:
            task = asyncio.ensure_future(
                sync_to_async(self._render)(shop_id=shop_id, since=since, can_move=can_move, clock=clock)
            )
            self._renders[key] = task
            while len(self._renders) > RENDERS_KEPT:
                self._renders.popitem(last=False)
        try:
            # Shielded: a stream that closes while waiting does not cancel the others' rendering.
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("A pushed board delta could not be rendered; boards fetch it instead")
            if self._renders.get(key) is task:
                del self._renders[key]
            return None

    def _render(self, *, shop_id: int, since: int, can_move: bool, clock: int) -> PushedDelta | None:
        try:
            with transaction.atomic():
                # One snapshot for the version, the cards and the counts (first statement).
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                version, redraw_version = live.board_versions(shop_id=shop_id)
                reason = deltas.whole_board_reason(
                    since=since, version=version, redraw_version=redraw_version
                )
                now = timezone.now()
                if (
                    reason is not None
                    or version == since
                    or int(now.timestamp()) // CLOCK_BUCKET_SECONDS != clock
                ):
                    return None
                delta = deltas.board_delta_load(
                    shop_id=shop_id, since=since, now=now, board_filter=UNFILTERED
                )
                if delta is None:
                    return None
                shop = Shop.objects.get(pk=shop_id)
                cards_decorate(delta.cards, shop=shop, now=now)
        finally:
            # Streams stay open for hours: the render thread gives its connection back.
            for conn in connections.all(initialized_only=True):
                conn.close()
        counts = {column.stage.id: column.count for column in delta.counts.columns.values()}
        previous = self._counts.get((shop_id, since))
        self._counts[(shop_id, version)] = counts
        while len(self._counts) > COUNTS_KEPT:
            self._counts.popitem(last=False)
        stages = {ro.stage_id for ro in delta.cards}
        involved = [
            (stage_id, count)
            for stage_id, count in counts.items()
            if previous is None or previous.get(stage_id) != count or stage_id in stages
        ]
        html = _one_line(
            delta_render(
                shop=shop,
                can_move=can_move,
                delta=delta,
                since=since,
                version=version,
                clock=clock,
                counts=involved,
                board_filter=UNFILTERED,
            )
        )
        self.renders += 1
        return PushedDelta(since=since, version=version, html=html)


_LINE_BREAK = re.compile(r"\s*\n\s*")


def _one_line(html: str) -> str:
    """The template's line breaks and indentation as single spaces (the same HTML to a
    browser): one `data:` line instead of ~30, ~0.5 KB less per card on every stream."""
    return _LINE_BREAK.sub(" ", html).strip()


_pushed: dict[asyncio.AbstractEventLoop, PushedDeltas] = {}


def pushed_deltas() -> PushedDeltas:
    """This event loop's renderings (loop_local)."""
    return loop_local(_pushed, PushedDeltas)
