"""One commit's messages delivered together: every lane in shared statements.

A board move records up to four messages in its transaction (OBS's and one
per webhook endpoint), each the head of its own lane (services.py). Sent one
task and one lane at a time they cost the worker about 15-20 statements and
~10 ms of CPU each (docs/bench.md, section 7). `messages_deliver` takes the
lanes of one commit together, round by round, with the same rules as
`services.message_deliver`:

lock     one statement: pg_try_advisory_lock on every lane's key. A lane
         whose lock is taken is left to its holder, which looks again after
         letting go (the hand-over, below). The lock is kept, not dropped,
         though the lease alone would keep the order: it is what stops a
         second deliverer from even reading a lane mid-call, and so from
         superseding (OBS) the message the holder is sending.
claim    one transaction: the pending messages of every lane, locked in one
         SELECT … FOR UPDATE (with each OBS head's "a newer one was
         delivered" as a subquery); the heads chosen in Python by each
         lane's rule (newest for latest-only, oldest for in-order; refusals
         and exhausted heads failed as before); the leases of every lane
         taken by one multi-row upsert (a lane still held is busy); the
         attempts booked by one UPDATE.
send     the HTTP calls at once, on a bounded pool of threads shared by the
         process, with no transaction open. The outcomes are recorded in
         waves: those that answered within WAVE_SECONDS together, then each
         later one as it answers, so a slow endpoint neither holds back the
         others' sends nor their outcomes, and never its own lane's order.
record   one transaction per wave: the attempts (one INSERT, only of
         messages still there), the leases ended (one UPDATE telling which
         claims are still the last), the outcomes (one UPDATE per kind:
         delivered, retrying, failed), OBS's older messages superseded (one
         UPDATE), OBS's board badges read before and after (two reads).
unlock   one statement per wave, then one read of every lane's head:
         due now means a message was committed while this call held the lane
         (its task found the lane taken and left it to us): another round
         (or, while other sends are still in flight, a fresh task).

Uncertain outcomes, the per-destination retry schedule and the
re-send/sweep paths are the one-lane engine's (services.py); a lane this
call attempted whose head is due later gets a one-lane task at that time,
as the one-lane task retries itself.
"""

import logging
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from threading import Lock

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from .adapters import Adapter, Refused, SendResult, adapter_for
from .locks import fences_claim, fences_release, lane_lock_key, lanes_try_lock, lanes_unlock, run_reconnecting
from .models import Attempt, Destination, Message
from .queue import message_deliver_enqueue, messages_deliver_enqueue
from .services import (
    MAX_ROUNDS,
    Claim,
    DeliveryOutcome,
    Lane,
    _fail,
    _newest_send_again,
    _supersede,
    claim_book,
    message_deliver,
)

logger = logging.getLogger(__name__)

State = Message.State
# The process's threads for HTTP calls (each keeps its keep-alive connections).
SEND_THREADS = 32
# How long the first wave of outcomes waits for the others' answers.
WAVE_SECONDS = 0.25

_executor: ThreadPoolExecutor | None = None
_executor_lock = Lock()


def _send_pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:  # made in the worker process itself (after a prefork fork)
            _executor = ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix="delivery-send")
        return _executor


@dataclass(frozen=True)
class BatchReport:
    outcomes: dict[int, str]  # head message id → outcome, of every lane attempted or found busy

    def __str__(self) -> str:
        counts: dict[str, int] = {}
        for outcome in self.outcomes.values():
            counts[outcome] = counts.get(outcome, 0) + 1
        return ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "nothing"


def _key(lane: Lane) -> tuple[str, int | None, int | None]:
    return (lane.destination, lane.endpoint_id, lane.repair_order_id)


def _lock_key(lane: Lane) -> int:
    return lane_lock_key(lane.repair_order_id, lane.name)


def messages_deliver(*, message_ids: list[int]) -> BatchReport:
    """Deliver what is due in the lanes of these messages, together. Not
    atomic on purpose: no transaction is open while destinations answer."""
    lanes = run_reconnecting(lambda: _lanes_of(message_ids))
    outcomes: dict[int, str] = {}
    for lane in [lane for lane in lanes if lane.repair_order_id is None]:
        # A message without RO (a test message) is a lane of its own: the one-lane engine.
        outcomes[lane.message_id] = message_deliver(message_id=lane.message_id).outcome
    lanes = [lane for lane in lanes if lane.repair_order_id is not None]
    attempted: set[tuple] = set()
    for _ in range(MAX_ROUNDS):
        if not lanes:
            break
        lanes = _round(lanes, outcomes, attempted)
    else:
        if lanes:  # more to send than one call may: hand the lanes to a fresh task
            messages_deliver_enqueue([lane.message_id for lane in lanes])
    return BatchReport(outcomes)


def _lanes_of(message_ids: list[int]) -> list[Lane]:
    lanes: dict[tuple, Lane] = {}
    rows = (
        Message.objects.filter(pk__in=message_ids)
        .order_by("id")
        .values_list("id", "destination", "endpoint_id", "repair_order_id")
    )
    for message_id, destination, endpoint_id, repair_order_id in rows:
        key = (destination, endpoint_id, repair_order_id)
        if repair_order_id is None:
            key = (*key, message_id)
        lanes.setdefault(key, Lane(destination, endpoint_id, repair_order_id, message_id))
    return list(lanes.values())


def _round(lanes: list[Lane], outcomes: dict[int, str], attempted: set[tuple]) -> list[Lane]:
    """One round over the lanes: the lanes due again at once, for the next one."""
    keys = {_key(lane): _lock_key(lane) for lane in lanes}
    held_keys = run_reconnecting(lambda: lanes_try_lock(list(keys.values())))
    held = [lane for lane in lanes if keys[_key(lane)] in held_keys]
    for lane in lanes:
        if keys[_key(lane)] not in held_keys:
            outcomes.setdefault(lane.message_id, DeliveryOutcome.BUSY)
    if not held:
        return []
    unlocked: list[Lane] = []
    try:
        claims = run_reconnecting(lambda: lane_heads_claim(held))
        busy = [lane for lane in held if _key(lane) in claims.busy]
        for lane in busy:
            # Another claim's lease holds the lane (its holder looks again after
            # its call): let go of it and leave it, as the one-lane engine does.
            outcomes.setdefault(lane.message_id, DeliveryOutcome.BUSY)
        if busy:
            lanes_unlock([keys[_key(lane)] for lane in busy])
            unlocked.extend(busy)
        idle = [lane for lane in held if _key(lane) not in claims.claimed and _key(lane) not in claims.busy]
        again: list[Lane] = []
        for wave, in_flight in _send_waves(list(claims.claimed.values())):
            results = run_reconnecting(lambda wave=wave: attempts_record(wave))
            for claim, _ in wave:
                attempted.add(_key(claim.lane))
                outcomes[claim.lane.message_id] = results[claim.message.id]
            done = [claim.lane for claim, _ in wave] + idle
            idle = []
            lanes_unlock([keys[_key(lane)] for lane in done])
            unlocked.extend(done)
            due_now = _lanes_due_again(done, attempted)
            if in_flight and due_now:
                # Other sends are still out: the lanes due again go on in a fresh task.
                messages_deliver_enqueue([lane.message_id for lane in due_now])
            else:
                again.extend(due_now)
        if idle:  # nothing was claimed: let go of the lanes and look once more
            lanes_unlock([keys[_key(lane)] for lane in idle])
            unlocked.extend(idle)
            again.extend(_lanes_due_again(idle, attempted))
        return again
    finally:
        left = [keys[_key(lane)] for lane in held if lane not in unlocked]
        if left:
            lanes_unlock(left)


def _lanes_due_again(lanes: list[Lane], attempted: set[tuple]) -> list[Lane]:
    """After letting go of the lanes, one read of their heads: the lanes due
    now (another round). A lane this call attempted whose head is due later
    gets a one-lane task at that time (its retry); one that was only looked
    at schedules nothing, so duplicate tasks die out."""
    heads = run_reconnecting(lambda: _heads_due(lanes))
    now = timezone.now()
    due_now = []
    for lane in lanes:
        head = heads.get(_key(lane))
        if head is None:
            continue
        head_id, due_at = head
        if due_at is None or due_at <= now:
            due_now.append(lane)
        elif _key(lane) in attempted:
            message_deliver_enqueue(head_id, eta=due_at)
    return due_now


def _lanes_q(lanes: list[Lane]) -> Q:
    condition = Q()
    for lane in lanes:
        condition |= Q(destination=lane.destination, repair_order_id=lane.repair_order_id) & (
            Q(endpoint_id=lane.endpoint_id) if lane.endpoint_id is not None else Q(endpoint_id__isnull=True)
        )
    return Q(repair_order_id__in={lane.repair_order_id for lane in lanes}) & condition


def _heads_due(lanes: list[Lane]) -> dict[tuple, tuple[int, datetime | None]]:
    """Each lane's head (what its next claim takes) and when it is due."""
    rows = (
        Message.objects.filter(_lanes_q(lanes), state=State.PENDING)
        .order_by("id")
        .values_list("id", "destination", "endpoint_id", "repair_order_id", "next_attempt_at")
    )
    heads: dict[tuple, tuple[int, datetime | None]] = {}
    for message_id, destination, endpoint_id, repair_order_id, due_at in rows:
        key = (destination, endpoint_id, repair_order_id)
        if adapter_for(destination).latest_only or key not in heads:
            heads[key] = (message_id, due_at)
    return heads


# ---- Claim ----------------------------------------------------------------------------------------------------


@dataclass
class Claims:
    claimed: dict[tuple, Claim]
    busy: set[tuple]


def lane_heads_claim(lanes: list[Lane]) -> Claims:
    """Claims on the heads of the lanes that are due, in one transaction."""
    now = timezone.now()
    with transaction.atomic():
        obs = Message.objects.filter(destination=Destination.OBS, repair_order_id=OuterRef("repair_order_id"))
        newer, older = obs.filter(id__gt=OuterRef("id")), obs.filter(id__lt=OuterRef("id"))
        rows = list(
            Message.objects.filter(_lanes_q(lanes), state=State.PENDING)
            .select_related("endpoint", "repair_order")
            # OBS: whether a newer message was delivered (nothing to send), or
            # exists at all (its card's badge is another message's: record),
            # and whether an older one failed (a delivery makes it obsolete).
            .annotate(
                newer_delivered=Exists(newer.filter(state=State.DELIVERED)),
                newer_exists=Exists(newer),
                older_failed=Exists(older.filter(state=State.FAILED)),
            )
            .select_for_update(of=("self",))
            .order_by("id")
        )
        pending: dict[tuple, list[Message]] = {}
        for message in rows:
            pending.setdefault(
                (message.destination, message.endpoint_id, message.repair_order_id), []
            ).append(message)
        heads: dict[tuple, tuple[Lane, Adapter, Message, object]] = {}
        for lane in lanes:
            adapter = adapter_for(lane.destination)
            chosen = _head_choose(lane, adapter, pending.get(_key(lane), []), now)
            if chosen is not None:
                heads[_key(lane)] = (lane, adapter, *chosen)
        tokens = fences_claim(
            [
                (lane.repair_order_id, lane.name, adapter.lease_seconds())
                for lane, adapter, _, _ in heads.values()
            ]
        )
        claims: dict[tuple, Claim] = {}
        busy = set()
        booked = []
        for key, (lane, adapter, head, prepared) in heads.items():
            token = tokens.get((lane.repair_order_id, lane.name))
            if token is None:
                busy.add(key)  # a claim of the lane still holds it
                continue
            claims[key] = claim_book(
                lane=lane, adapter=adapter, head=head, token=token, prepared=prepared, now=now
            )
            booked.append(head)
        if booked:
            _execute(
                f"""UPDATE {Message._meta.db_table} AS m
                SET attempt_count = v.n, next_attempt_at = v.at, updated_at = %s
                FROM unnest(%s::bigint[], %s::int[], %s::timestamptz[]) AS v(id, n, at)
                WHERE m.id = v.id""",
                [
                    now,
                    [m.id for m in booked],
                    [m.attempt_count for m in booked],
                    [m.next_attempt_at for m in booked],
                ],
            )
        return Claims(claims, busy)


def _head_choose(lane: Lane, adapter: Adapter, pending: list[Message], now: datetime):
    """(head, prepared) of the lane, or None when nothing is due; as
    services.lane_head_claim chooses, on the lane's pending messages (locked)."""
    while pending:
        if adapter.latest_only:
            head = pending[-1]
            if len(pending) > 1:
                _supersede(lane, before_id=head.id, states=[State.PENDING], now=now)
            if head.newer_delivered:
                _supersede(lane, before_id=head.id + 1, states=[State.PENDING], now=now)
                return None
            pending = [head]
        else:
            head = pending[0]
        if head.next_attempt_at is not None and head.next_attempt_at > now:
            return None
        pending = pending[1:] if not adapter.latest_only else []
        try:
            prepared = adapter.prepare(head, now)
        except Refused as refused:
            with adapter.card_watch(head.repair_order_id):
                _fail(head.id, str(refused), now)
            continue
        if head.attempt_count + 1 > adapter.policy().max_attempts():
            # The last attempt's worker died before recording it.
            with adapter.card_watch(head.repair_order_id):
                _fail(head.id, f"Gave up after {head.attempt_count} attempts. {head.last_error}".strip(), now)
            continue
        return head, prepared
    return None


def _execute(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


# ---- Send -----------------------------------------------------------------------------------------------------


def _send_one(claim: Claim) -> SendResult:
    adapter = adapter_for(claim.lane.destination)
    started = time.monotonic()
    try:
        return adapter.send(claim.prepared, claim.message)
    except Exception as exc:  # a bug must not cost the other lanes their outcomes
        logger.exception("Sending message %s failed", claim.message.id)
        return SendResult(False, None, f"Not sent: {exc}", "", int((time.monotonic() - started) * 1000))


def _send_waves(claims: list[Claim]):
    """Send every claim at once; yield (wave of (claim, result), sends still
    in flight) as they answer: first all that answered within WAVE_SECONDS,
    then each later group."""
    if not claims:
        return
    if len(claims) == 1:
        yield [(claims[0], _send_one(claims[0]))], False
        return
    pool = _send_pool()
    futures = {pool.submit(_send_one, claim): claim for claim in claims}
    done, pending = wait(futures, timeout=WAVE_SECONDS)
    while True:
        if not done:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
        wave = sorted(((futures[f], f.result()) for f in done), key=lambda pair: pair[0].message.id)
        yield wave, bool(pending)
        if not pending:
            return
        done = set()


# ---- Record ---------------------------------------------------------------------------------------------------


@transaction.atomic
def attempts_record(wave: list[tuple[Claim, SendResult]]) -> dict[int, str]:
    """Keep every attempt; write each outcome whose lane is still its claim's.
    The outcome of each message, by id."""
    now = timezone.now()
    table = Message._meta.db_table
    present = {
        row[0]
        for row in _execute(
            f"""INSERT INTO {Attempt._meta.db_table}
                (message_id, attempted_at, http_status, error, response_excerpt, duration_ms)
            SELECT v.message_id, v.attempted_at, v.http_status, v.error, v.excerpt, v.duration_ms
            FROM unnest(%s::bigint[], %s::timestamptz[], %s::int[], %s::text[], %s::text[], %s::int[])
                AS v(message_id, attempted_at, http_status, error, excerpt, duration_ms)
            JOIN {table} AS m ON m.id = v.message_id
            RETURNING message_id""",
            [
                [c.message.id for c, _ in wave],
                [c.claimed_at for c, _ in wave],
                [r.http_status for _, r in wave],
                [r.error for _, r in wave],
                [r.response_excerpt for _, r in wave],
                [r.duration_ms for _, r in wave],
            ],
        )
    }
    outcomes = {c.message.id: DeliveryOutcome.NOTHING for c, _ in wave}  # its endpoint was deleted meanwhile
    wave = [(c, r) for c, r in wave if c.message.id in present]
    if not wave:
        return outcomes
    # The fence: did anyone claim a lane during the call?
    ours = fences_release([(c.lane.repair_order_id, c.lane.name, c.token) for c, _ in wave])
    # The cards whose badge this record may change, read before and after it.
    watched: dict[str, list[int]] = {}
    for claim, result in wave:
        sure = (claim.lane.repair_order_id, claim.lane.name) in ours
        adapter = adapter_for(claim.lane.destination)
        if adapter.card_may_change(claim.message, delivered=result.delivered and sure, now=now):
            watched.setdefault(claim.lane.destination, []).append(claim.message.repair_order_id)
    with ExitStack() as cards:
        for destination, repair_order_ids in watched.items():
            cards.enter_context(adapter_for(destination).cards_watch(repair_order_ids))
        delivered, retrying, failed, superseding, uncertain = [], [], [], [], []
        for claim, result in wave:
            adapter = adapter_for(claim.lane.destination)
            message = claim.message
            if (claim.lane.repair_order_id, claim.lane.name) not in ours:
                if not adapter.latest_only:
                    logger.warning("Message %s: its lane was claimed again during the call", message.id)
                    outcomes[message.id] = DeliveryOutcome.SUPERSEDED
                    continue
                uncertain.append(claim)
            if result.delivered:
                delivered.append(claim)
                if adapter.latest_only and claim.message.older_failed:
                    # Older pending ones were made obsolete by the claim
                    # (under the lane's lock nothing older turns pending).
                    superseding.append(claim)
                outcome = DeliveryOutcome.DELIVERED
            elif adapter.on_failure(message, result, claim.claimed_at, now):
                outcome = DeliveryOutcome.FAILED
            elif result.permanent or claim.retry_delay is None:
                reason = result.error
                if not result.permanent:
                    reason = f"Gave up after {claim.attempt_number} attempts. Last: {result.error}"
                failed.append((claim, reason))
                outcome = DeliveryOutcome.FAILED
            else:
                retry_at = adapter.policy().retry_at(
                    attempted_at=claim.claimed_at,
                    delay=claim.retry_delay,
                    now=now,
                    retry_after_seconds=result.retry_after_seconds,
                )
                retrying.append((claim, result.error, retry_at))
                outcome = DeliveryOutcome.RETRYING
            outcomes[message.id] = outcome
            logger.info(
                "%s message %s: attempt %s %s %s",
                message.get_destination_display(),
                message.id,
                claim.attempt_number,
                outcome,
                result.error,
            )
        held = f"m.id = v.id AND m.state = '{State.PENDING.value}' AND m.attempt_count = v.n"
        if delivered:
            _execute(
                f"""UPDATE {table} AS m SET state = %s, delivered_at = %s, next_attempt_at = NULL,
                    last_error = '', updated_at = %s
                FROM unnest(%s::bigint[], %s::int[]) AS v(id, n) WHERE {held}""",
                [
                    State.DELIVERED,
                    now,
                    now,
                    [c.message.id for c in delivered],
                    [c.attempt_number for c in delivered],
                ],
            )
        if superseding:
            # The destination now has a newer state than any older message carries.
            _execute(
                f"""UPDATE {table} AS m SET state = %s, next_attempt_at = NULL, updated_at = %s
                FROM unnest(%s::bigint[], %s::text[], %s::bigint[]) AS v(ro, destination, id)
                WHERE m.repair_order_id = v.ro AND m.destination = v.destination AND m.endpoint_id IS NULL
                    AND m.id < v.id AND m.state IN (%s, %s)""",
                [
                    State.OBSOLETE,
                    now,
                    [c.lane.repair_order_id for c in superseding],
                    [c.lane.destination for c in superseding],
                    [c.message.id for c in superseding],
                    State.PENDING,
                    State.FAILED,
                ],
            )
        if failed:
            _execute(
                f"""UPDATE {table} AS m SET state = %s, last_error = v.reason, next_attempt_at = NULL,
                    updated_at = %s
                FROM unnest(%s::bigint[], %s::int[], %s::text[]) AS v(id, n, reason) WHERE {held}""",
                [
                    State.FAILED,
                    now,
                    [c.message.id for c, _ in failed],
                    [c.attempt_number for c, _ in failed],
                    [reason for _, reason in failed],
                ],
            )
        if retrying:
            _execute(
                f"""UPDATE {table} AS m SET last_error = v.error, next_attempt_at = v.at, updated_at = %s
                FROM unnest(%s::bigint[], %s::int[], %s::text[], %s::timestamptz[]) AS v(id, n, error, at)
                WHERE {held}""",
                [
                    now,
                    [c.message.id for c, _, _ in retrying],
                    [c.attempt_number for c, _, _ in retrying],
                    [error for _, error, _ in retrying],
                    [at for _, _, at in retrying],
                ],
            )
        for claim in delivered:
            adapter_for(claim.lane.destination).on_delivered(claim.message, now)
        for claim in uncertain:
            _newest_send_again(claim.lane, now)
    return outcomes
