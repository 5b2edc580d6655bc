"""What an open board downloads after a change (SPEC §7, issue 13): the cards that
changed since the version it shows, not the whole board.

Every writer stamps the ROs it changes with the shop's new board version
(repairs.live). A board that shows version `since` therefore needs exactly the
shop's ROs stamped past `since`: each is drawn in its column when it is on this
board (Active, and matching the board's search and quick filters), or removed
from it when it is not (closed, or no longer matching). With them go the counts
of the columns that changed and the top bar's stats. The whole board is sent
instead when that is simpler or cheaper (`whole_board_reason`).
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from django.db.models import BooleanField, Case, Q, Value, When
from django.db.models.functions import Lower

from . import board_hooks
from .models import RepairOrder
from .selectors import BoardCounts, BoardFilter, board_counts, board_teams

# More changed cards than this and the whole board is sent: past ~60 cards a delta is
# no longer much smaller than the gzipped board of a big shop, and one swap is simpler.
DELTA_CARD_LIMIT = 60
# A board this many versions behind (a laptop woken after a weekend) loads the whole board
# without asking which cards changed.
DELTA_VERSION_LIMIT = 1000


class WholeBoard(StrEnum):
    """Why a catch-up answers the whole board rather than a delta."""

    UNKNOWN = "unknown"  # no version, or one this shop never had (a restored database)
    TOO_OLD = "too-old"  # more than DELTA_VERSION_LIMIT versions behind
    REDRAW = "redraw"  # a change no card carries happened since (repairs.live `redraw`)
    CLOCK = "clock"  # days in stage and "overdue" moved on with the clock
    BIG = "big"  # more than DELTA_CARD_LIMIT cards changed


def whole_board_reason(*, since: int | None, version: int, redraw_version: int) -> WholeBoard | None:
    """Whether a board at `since` must load the whole board, from the versions alone."""
    if since is None or since < 0 or since > version:
        return WholeBoard.UNKNOWN
    if version - since > DELTA_VERSION_LIMIT:
        return WholeBoard.TOO_OLD
    if since < redraw_version:
        return WholeBoard.REDRAW
    return None


@dataclass
class BoardDelta:
    cards: list[RepairOrder]  # changed ROs on this board, with `team_members`
    removed_ids: list[int]  # changed ROs not on this board any more
    counts: BoardCounts  # all 15 columns and the top bar; the view sends those that changed


def board_delta_load(
    *, shop_id: int, since: int, now: datetime, board_filter: BoardFilter
) -> BoardDelta | None:
    """The ROs of the shop changed after version `since`, as this board shows them, in 3
    queries (changed ROs, their teams, the counts); None when more than DELTA_CARD_LIMIT
    changed (the caller sends the whole board)."""
    on_board = Q(status_lower="active")
    if board_filter.active:
        on_board &= board_filter.condition(shop_id=shop_id, now=now)
    changed = (
        RepairOrder.objects.filter(shop_id=shop_id, board_version__gt=since)
        .alias(status_lower=Lower("status"))
        .annotate(
            on_board=Case(When(on_board, then=Value(True)), default=Value(False), output_field=BooleanField())
        )
        .order_by("stage_id", "scheduled_delivery", "repair_number")
    )
    for annotate in board_hooks.card_annotations():
        changed = annotate(changed)
    changed = list(changed[: DELTA_CARD_LIMIT + 1])
    if len(changed) > DELTA_CARD_LIMIT:
        return None
    cards = [ro for ro in changed if ro.on_board]
    teams = board_teams(shop_id=shop_id, repair_order_ids=[ro.id for ro in cards]) if cards else {}
    for ro in cards:
        ro.team_members = teams.get(ro.id, [])
    return BoardDelta(
        cards=cards,
        removed_ids=[ro.id for ro in changed if not ro.on_board],
        counts=board_counts(shop_id=shop_id, now=now, board_filter=board_filter),
    )
