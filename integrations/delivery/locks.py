"""Delivery order per RO and destination, without trusting a connection to stay up.

A destination here is a lane's name (`lane_name`): "obs" for an RO's
messages to OBS, "webhook:<endpoint id>" for its messages to one endpoint.

Two layers, for a deliverer whose HTTP call runs outside any transaction:

1. `repair_order_delivery_lock`: one deliverer at a time per RO and
   destination, normally. A session-level PostgreSQL advisory lock taken with
   pg_try_advisory_lock (never waits: a worker that finds it taken leaves the
   RO to the holder, which looks again for newer work after letting go). It is
   released by PostgreSQL when the holder's connection closes, which is what
   makes a crashed worker harmless, and also what makes the lock alone unsafe:
   a connection lost mid-call (failover, network blip, PgBouncer restart)
   frees it while the call is still on its way, and a second deliverer may
   send a newer update that the first call then overwrites.

2. The lease, which ordering rests on: a per-RO, per-destination row
   (DeliveryFence) that no connection owns. A claim (`fence_claim`, inside
   the claim's transaction) takes it for a bounded time, longer than the
   call can take, and advances its fencing token; while the hold runs, other
   claims are refused, whatever happened to the holder's connection. After
   the call the holder ends its hold (`fence_release`, on a fresh connection
   if the old one died: see `run_reconnecting`), which tells it whether the
   token is still its own. It is not when the hold ran out and another claim
   came (a holder frozen for longer than the hold): the outcome is then
   uncertain (this call may have landed after a newer one), and the caller
   must send the newest state again so the destination ends on it. A holder
   that died leaves the lease to run out: the RO waits that long at most.

Used by the one delivery engine (services.py) for every destination.
"""

import logging
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from ..models import DeliveryFence

logger = logging.getLogger(__name__)

OBS_LANE = "obs"
# High 32 bits of the 64-bit advisory key: keeps these locks apart from any
# other advisory lock the database might see. Reads "0B5" (OBS).
LOCK_NAMESPACE = 0x0B5
# Attempts of a database step after the connection was lost.
RECONNECT_ATTEMPTS = 4


def lane_name(destination: str, endpoint_id: int | None) -> str:
    """The lane's name in DeliveryFence and its advisory lock key."""
    return destination if endpoint_id is None else f"{destination}:{endpoint_id}"


def _key(repair_order_id: int, destination: str) -> int:
    # Two ROs sharing a key (ids beyond 2**32) would only deliver one after
    # the other: harmless.
    namespace = LOCK_NAMESPACE if destination == OBS_LANE else zlib.crc32(destination.encode()) & 0x7FFFFFFF
    return (namespace << 32) | (repair_order_id & 0xFFFFFFFF)


@contextmanager
def repair_order_delivery_lock(repair_order_id: int, *, destination: str) -> Iterator[bool]:
    """Yields True when this process holds the RO's delivery lock."""
    if connection.in_atomic_block:
        # A session lock taken inside a transaction would outlive a rollback
        # and hide the caller's mistake: delivery must run in autocommit.
        raise RuntimeError("The delivery lock is taken outside any transaction.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_key(repair_order_id, destination)])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [_key(repair_order_id, destination)])
            except Exception:
                # The connection is broken (the lock went with it); closing it
                # lets the next step connect afresh.
                logger.warning("Could not release the delivery lock of RO %s; reconnecting", repair_order_id)
                connection.close()


def fence_claim(*, repair_order_id: int, hold_seconds: float, destination: str) -> int | None:
    """Take the RO's lease for `hold_seconds`: its new fencing token, or None
    while another claim's hold runs. Call it inside the claim's transaction.

    One statement (it runs for every message sent): the lease row is made on
    first use, and otherwise locked, checked and bumped by the upsert's
    conditional update, which returns no row while another hold runs."""
    now = timezone.now()
    table = DeliveryFence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} (repair_order_id, destination, token, held_until) VALUES (%s, %s, 1, %s)
            ON CONFLICT (repair_order_id, destination) DO UPDATE
            SET token = {table}.token + 1, held_until = EXCLUDED.held_until
            WHERE {table}.held_until IS NULL OR {table}.held_until <= %s
            RETURNING token""",
            [repair_order_id, destination, now + timedelta(seconds=hold_seconds), now],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def fence_release(*, repair_order_id: int, token: int, destination: str) -> bool:
    """End the hold of the claim that got `token`. True when that claim was
    still the last one (nobody sent after its call began); False when the
    outcome is uncertain and the newest state must be sent again."""
    return bool(
        DeliveryFence.objects.filter(
            repair_order_id=repair_order_id, destination=destination, token=token
        ).update(held_until=None)
    )


def run_reconnecting[T](step: Callable[[], T]) -> T:
    """Run a short database step (a read, or a whole transaction) outside any
    transaction, connecting again if the connection was lost. A step whose
    COMMIT was lost in flight may run twice: steps must tolerate that."""
    for attempt in range(1, RECONNECT_ATTEMPTS + 1):
        try:
            return step()
        except (OperationalError, InterfaceError):
            if attempt == RECONNECT_ATTEMPTS or connection.in_atomic_block:
                raise
            logger.warning("Database connection lost; reconnecting (attempt %s)", attempt, exc_info=True)
            connection.close()
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


# ---- Many lanes at once (the batched delivery of one commit, batch.py) ---------------------------------------


def lane_lock_key(repair_order_id: int, destination: str) -> int:
    """The advisory lock key of one RO's lane (the same key as repair_order_delivery_lock's)."""
    return _key(repair_order_id, destination)


def lanes_try_lock(keys: list[int]) -> set[int]:
    """pg_try_advisory_lock on every key, in one statement: the keys now held
    by this session. Outside any transaction (see repair_order_delivery_lock)."""
    if not keys:
        return set()
    if connection.in_atomic_block:
        raise RuntimeError("The delivery lock is taken outside any transaction.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT k, pg_try_advisory_lock(k) FROM unnest(%s::bigint[]) AS k", [keys])
        return {key for key, acquired in cursor.fetchall() if acquired}


def lanes_unlock(keys: list[int]) -> None:
    """Let go of these advisory locks, in one statement. A broken connection
    took them with it: closing it lets the next step connect afresh."""
    if not keys:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(k) FROM unnest(%s::bigint[]) AS k", [keys])
    except Exception:
        logger.warning("Could not release %s delivery lock(s); reconnecting", len(keys))
        connection.close()


def fences_claim(
    lanes: list[tuple[int, str, float]],
) -> dict[tuple[int, str], int]:
    """fence_claim for many lanes in one statement: (repair_order_id,
    destination, hold_seconds) each; the new token of every lane taken, keyed
    by (repair_order_id, destination). A lane missing from the answer is held
    by another claim. Call it inside the claim's transaction."""
    if not lanes:
        return {}
    now = timezone.now()
    table = DeliveryFence._meta.db_table
    ros = [ro for ro, _, _ in lanes]
    destinations = [destination for _, destination, _ in lanes]
    until = [now + timedelta(seconds=hold) for _, _, hold in lanes]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} AS f (repair_order_id, destination, token, held_until)
            SELECT ro, destination, 1, until
            FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[]) AS v(ro, destination, until)
            ORDER BY ro, destination
            ON CONFLICT (repair_order_id, destination) DO UPDATE
            SET token = f.token + 1, held_until = EXCLUDED.held_until
            WHERE f.held_until IS NULL OR f.held_until <= %s
            RETURNING f.repair_order_id, f.destination, f.token""",
            [ros, destinations, until, now],
        )
        return {(ro, destination): token for ro, destination, token in cursor.fetchall()}


def fences_release(tokens: list[tuple[int, str, int]]) -> set[tuple[int, str]]:
    """fence_release for many lanes in one statement: (repair_order_id,
    destination, token) each; the lanes whose claim was still the last one
    (the others' outcomes are uncertain)."""
    if not tokens:
        return set()
    table = DeliveryFence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {table} AS f SET held_until = NULL
            FROM unnest(%s::bigint[], %s::text[], %s::bigint[]) AS v(ro, destination, token)
            WHERE f.repair_order_id = v.ro AND f.destination = v.destination AND f.token = v.token
            RETURNING f.repair_order_id, f.destination""",
            [[t[0] for t in tokens], [t[1] for t in tokens], [t[2] for t in tokens]],
        )
        return {(ro, destination) for ro, destination in cursor.fetchall()}
