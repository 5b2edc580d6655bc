"""One deliverer per RO at a time, without a transaction held across HTTP.

A PostgreSQL session-level advisory lock keyed by the RO: taken with
pg_try_advisory_lock (never waits: a worker that finds it taken leaves the RO
to the holder, which looks again for newer notifications after letting go),
released explicitly, and released by PostgreSQL if the worker dies mid-call
and its connection closes. Callers only see `repair_order_delivery_lock`.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

logger = logging.getLogger(__name__)

# High 32 bits of the 64-bit advisory key: keeps these locks apart from any
# other advisory lock the database might see. Reads "0B5" (OBS).
LOCK_NAMESPACE = 0x0B5


def _key(repair_order_id: int) -> int:
    # Two ROs sharing a key (ids beyond 2**32) would only deliver one after
    # the other: harmless.
    return (LOCK_NAMESPACE << 32) | (repair_order_id & 0xFFFFFFFF)


@contextmanager
def repair_order_delivery_lock(repair_order_id: int) -> Iterator[bool]:
    """Yields True when this process holds the RO's delivery lock."""
    if connection.in_atomic_block:
        # A session lock taken inside a transaction would outlive a rollback
        # and hide the caller's mistake: delivery must run in autocommit.
        raise RuntimeError("The OBS delivery lock is taken outside any transaction.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_key(repair_order_id)])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [_key(repair_order_id)])
            except Exception:
                # The connection is broken; closing it is what frees the lock.
                logger.exception(
                    "Could not release the OBS lock of RO %s; closing the connection", repair_order_id
                )
                connection.close()
