"""The board's change feed (SPEC §7; docs/board.md "Staying current: deltas").

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
  server-sent-events stream (repairs/live_listener.py) listens on the channel.

A writer touching several shops calls `boards_changed` once: it locks the shops'
version rows in shop-id order, so two such writers cannot deadlock, and it is one
statement whatever the number of shops. Every writer takes this lock last, after
its own row locks (an RO, a person), so the order of locks is the same everywhere.
"""

from collections.abc import Collection, Iterable, Mapping

from django.db import connection

from .models import BoardVersion, Person, RepairOrder, RepairTeamMember

BOARD_CHANGES_CHANNEL = "board_changes"

_TABLE = BoardVersion._meta.db_table
# One statement for any number of shops: bump each shop's version in shop-id order
# (creating its row on its first change), stamp its changed ROs, queue its NOTIFY.
# The cards: the ROs given, and those of the people given (their initials changed). They
# are locked first, in id order (most writers hold them already): a writer that stamps
# an RO it did not lock (the OBS badge, a renamed person's other cards) must not hold a
# version row while it waits for an RO whose mover waits for that version row.
_BUMP = f"""
    WITH cards AS (
        -- mine: the writer's own cards (which it may have stamped already), not its people's others.
        SELECT c.shop_id, c.id, true AS mine
        FROM unnest(%(ro_shop_ids)s::integer[], %(ro_ids)s::bigint[]) AS c(shop_id, id)
        UNION
        SELECT p.shop_id, tm.repair_order_id, false
        FROM {RepairTeamMember._meta.db_table} AS tm JOIN {Person._meta.db_table} AS p ON p.id = tm.person_id
        WHERE tm.person_id = ANY(%(person_ids)s::bigint[]) AND p.shop_id = ANY(%(shop_ids)s::integer[])
    ), locked AS (
        SELECT count(*) AS n FROM (
            SELECT 1 FROM {RepairOrder._meta.db_table}
            WHERE %(lock_cards)s AND id IN (SELECT id FROM cards) ORDER BY id FOR UPDATE
        ) AS l
    ), bumped AS (
        INSERT INTO {_TABLE} AS bv (shop_id, version, redraw_version)
        SELECT shop_id, 1, CASE WHEN %(redraw)s THEN 1 ELSE 0 END
        FROM unnest(%(shop_ids)s::integer[]) AS s(shop_id), locked
        ORDER BY shop_id
        ON CONFLICT (shop_id) DO UPDATE SET
            version = bv.version + 1,
            redraw_version = CASE WHEN %(redraw)s THEN bv.version + 1 ELSE bv.redraw_version END
        RETURNING shop_id, version
    ), guessed AS MATERIALIZED (
        -- Each shop's new version, and whether the writer stamped its own cards with it already
        -- (board_version_predicted, the batch) because that guess was right.
        SELECT bumped.shop_id, bumped.version, g.version IS NOT DISTINCT FROM bumped.version AS guess_right
        FROM bumped LEFT JOIN unnest(%(stamped_shop_ids)s::integer[], %(stamped_versions)s::bigint[])
            AS g(shop_id, version) ON g.shop_id = bumped.shop_id
    ), stamped AS (
        UPDATE {RepairOrder._meta.db_table} AS ro SET board_version = b.version
        -- OFFSET 0 keeps this join apart from the update: the cards stamped right already cost no
        -- look-up (1,000 index probes for a batch).
        FROM (
            SELECT cards.id, cards.shop_id, guessed.version FROM guessed JOIN cards USING (shop_id)
            WHERE NOT (guessed.guess_right AND cards.mine) OFFSET 0
        ) AS b
        WHERE ro.id = b.id AND ro.shop_id = b.shop_id
            -- A card stamped already is not written again: rewriting 1,000 fresh rows would cost
            -- a new version of each row and of every index entry (board_version is indexed, so no
            -- HOT update).
            AND ro.board_version IS DISTINCT FROM b.version
    )
    SELECT shop_id, version, pg_notify(%(channel)s, shop_id::text || ':' || version::text) FROM bumped
"""


def board_version_predicted(shop_id_sql: str) -> str:
    """SQL for the version the writer's `boards_changed` will most likely give the shop
    (`shop_id_sql`: an SQL expression of the shop id), read without a lock: a writer of
    many cards stamps them with it as it writes them. `boards_changed` stamps every card
    with the real version all the same where the guess was wrong (another writer of the
    shop committed in between), so the guess only saves work, never decides."""
    return f"(COALESCE((SELECT v.version FROM {_TABLE} AS v WHERE v.shop_id = {shop_id_sql}), 0) + 1)"


def boards_changed(
    *,
    changes: Mapping[int, Iterable[int]],
    person_ids: Collection[int] = (),
    redraw: bool = False,
    cards_new: bool = False,
    stamped: Mapping[int, int] | None = None,
) -> dict[int, int]:
    """Record a change of each shop's board ({shop id: its changed RO ids}) in the caller's
    transaction, in one statement whatever the number of shops; the new versions by shop.

    The ids of a shop are its ROs whose cards changed (moved, edited, created, closed,
    their team or badge changed); may be empty. `person_ids`: people of these shops whose
    details changed: every card they are on changed too. `redraw`: the change is not one of cards
    (an RO deleted, the shop's thresholds changed), so boards older than it load the whole
    board. `cards_new`: the cards were created by this transaction (the batch create), so
    no other writer can hold them and they are not locked again (unless `person_ids` brings
    in other cards). `stamped`: {shop id: the version the writer stamped its changed cards
    with already (board_version_predicted)}; a shop whose new version is that one has its
    cards left as they are. Must run inside a transaction (the writers are @transaction.atomic),
    as the writer's last lock (the module's docstring).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("board_changed must run inside the writer's transaction")
    if not changes:
        return {}
    pairs = sorted({(shop_id, pk) for shop_id, ids in changes.items() for pk in ids})
    params = {
        "shop_ids": sorted(changes),
        "ro_shop_ids": [shop_id for shop_id, _ in pairs],
        "ro_ids": [pk for _, pk in pairs],
        "person_ids": sorted(person_ids),
        "redraw": redraw,
        # Cards this transaction created are invisible to every other writer: nothing to wait for.
        "lock_cards": not cards_new or bool(person_ids),
        "channel": BOARD_CHANGES_CHANNEL,
        "stamped_shop_ids": list(stamped or {}),
        "stamped_versions": list((stamped or {}).values()),
    }
    with connection.cursor() as cursor:
        cursor.execute(_BUMP, params)
        return {shop_id: version for shop_id, version, _ in cursor.fetchall()}


def board_changed(*, shop_id: int, repair_order_ids: Iterable[int], redraw: bool = False) -> int:
    """Record a change of one shop's board (boards_changed); the shop's new version."""
    return boards_changed(changes={shop_id: repair_order_ids}, redraw=redraw)[shop_id]


def board_version(*, shop_id: int) -> int:
    """The shop's current board version (0 before its first change)."""
    return board_versions(shop_id=shop_id)[0]


def board_versions(*, shop_id: int) -> tuple[int, int]:
    """(version, redraw_version) of the shop's board, (0, 0) before its first change."""
    row = BoardVersion.objects.filter(shop_id=shop_id).values_list("version", "redraw_version").first()
    return row or (0, 0)
