"""The board's change feed (SPEC §7, issue 13; /work contract LIVE_CONTRACT.md).

Every write transaction that changes what a card of a shop shows calls
`board_changed` once per shop, inside the transaction:

- the shop's board version (BoardVersion) grows by exactly 1. The row is taken
  with INSERT … ON CONFLICT DO UPDATE, which locks it until the writer commits,
  so two writers of one shop commit their versions in order: a board that saw
  version v and asks for what changed since v never skips one committed later
  with a smaller number;
- the changed ROs are stamped with that version (RepairOrder.board_version),
  which is what the delta endpoint reads: the ROs of the shop stamped past the
  board's version;
- `pg_notify(BOARD_CHANGES_CHANNEL, "<shop_id>:<version>")` is queued; PostgreSQL
  delivers it when the transaction commits and never when it rolls back. The
  server-sent-events stream (branch `push`) listens on the channel.

A writer touching several shops calls it per shop in shop-id order: the version
rows are then always locked in one order and two such writers cannot deadlock.
"""

from collections.abc import Iterable

from django.db import connection

from .models import BoardVersion, RepairOrder

BOARD_CHANGES_CHANNEL = "board_changes"

_TABLE = BoardVersion._meta.db_table
# One statement: bump (creating the shop's row on its first change) and queue the NOTIFY.
_BUMP = f"""
    WITH bumped AS (
        INSERT INTO {_TABLE} (shop_id, version, redraw_version)
        VALUES (%(shop_id)s, 1, CASE WHEN %(redraw)s THEN 1 ELSE 0 END)
        ON CONFLICT (shop_id) DO UPDATE SET
            version = {_TABLE}.version + 1,
            redraw_version = CASE WHEN %(redraw)s THEN {_TABLE}.version + 1 ELSE {_TABLE}.redraw_version END
        RETURNING version
    )
    SELECT version, pg_notify(%(channel)s, %(shop_id)s::text || ':' || version::text) FROM bumped
"""


def board_changed(*, shop_id: int, repair_order_ids: Iterable[int], redraw: bool = False) -> int:
    """Record a change of the shop's board in the caller's transaction; the new version.

    `repair_order_ids`: the shop's ROs whose cards changed (moved, edited, created,
    closed, their team or badge changed); may be empty (e.g. a person renamed who is
    on no card). `redraw`: the change is not one of cards (an RO deleted, the shop's
    thresholds changed), so boards older than it load the whole board. Must run inside
    a transaction (the writers are @transaction.atomic).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("board_changed must run inside the writer's transaction")
    with connection.cursor() as cursor:
        cursor.execute(_BUMP, {"shop_id": shop_id, "channel": BOARD_CHANGES_CHANNEL, "redraw": redraw})
        version, _ = cursor.fetchone()
    ids = sorted(set(repair_order_ids))
    if ids:
        RepairOrder.objects.filter(shop_id=shop_id, pk__in=ids).update(board_version=version)
    return version


def board_version(*, shop_id: int) -> int:
    """The shop's current board version (0 before its first change)."""
    return board_versions(shop_id=shop_id)[0]


def board_versions(*, shop_id: int) -> tuple[int, int]:
    """(version, redraw_version) of the shop's board, (0, 0) before its first change."""
    row = BoardVersion.objects.filter(shop_id=shop_id).values_list("version", "redraw_version").first()
    return row or (0, 0)
