"""The batch writes (SPEC §3): lock, plan the rows, write them, in one transaction.

Both take input the API edge has already validated (repairs/batch/inputs.py)
and cost a fixed number of statements whatever the number of ROs: the
checks' reads, one lock read, one statement per table (repairs/batch/sql.py).
Data problems are raised together as BatchRejected before anything is
written; any other error rolls the whole batch back.
"""

import functools
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..flow_summaries import FLOW_SUMMARY_FIELDS, flow_summaries_refresh
from ..live import boards_changed
from ..models import RepairOrder, RepairTeamMember
from ..people import person_fields_merge
from ..signals import repair_orders_created, repair_orders_updated
from ..stages import FIRST_STAGE_ID
from . import sql
from .checks import BatchRejected, batch_problems, batch_targets, numbers_taken, repair_orders_matching
from .fields import COLUMNS
from .inputs import BatchMode, ShopBatch, TeamMemberInput, WrittenRepairOrder

# (repair_order_id, shop_id, team) of the ROs whose team is written.
TeamWrite = tuple[int, int, Sequence[TeamMemberInput]]


@transaction.atomic
def repair_orders_create(
    *, shop_entries: Sequence[ShopBatch], shop_ids_allowed: Collection[int] | None = None
) -> list[WrittenRepairOrder]:
    """Create every RO of the batch in the first stage, or none. Returns them in request order.

    `shop_ids_allowed` limits the shops the caller may write (None: any); a
    shop outside it is reported as not found. Numbers already taken are found
    by the insert itself (ON CONFLICT DO NOTHING, which also waits for a
    concurrent writer of the same number), not by a read before it.
    """
    _require_complete(shop_entries)
    found_shops, keys = batch_targets(shop_entries=shop_entries, shop_ids_allowed=shop_ids_allowed)

    def rejected(taken: Collection[tuple[int, str]]) -> BatchRejected:
        return BatchRejected(
            batch_problems(
                mode=BatchMode.CREATE, shop_entries=shop_entries, shops_found=found_shops, numbers_found=taken
            )
        )

    if rejected(()).problems:  # list every problem of the batch, taken numbers included
        raise rejected(numbers_taken(keys=keys))
    now = timezone.now()
    # Every column: one an RO did not send takes the model's default, as RepairOrder(...) would.
    defaults = _column_defaults()
    rows = [
        (entry.shop_id, ro.repair_number, defaults | dict(ro.fields))
        for entry in shop_entries
        for ro in entry.repair_orders
    ]
    ids, stamped = sql.repair_orders_insert(
        rows=rows, fields=sorted(defaults), stage_id=FIRST_STAGE_ID, now=now
    )
    if len(ids) < len(rows):
        raise rejected(keys - ids.keys())  # rolls back the ROs that were inserted
    written: list[WrittenRepairOrder] = []
    teams: list[TeamWrite] = []
    for entry in shop_entries:
        for ro in entry.repair_orders:
            pk = ids[(entry.shop_id, ro.repair_number)]
            written.append(WrittenRepairOrder(pk, entry.shop_id, ro.repair_number, FIRST_STAGE_ID))
            if ro.team:
                teams.append((pk, entry.shop_id, ro.team))
    renamed = _teams_write(teams, now)
    repair_orders_created.send(
        sender=RepairOrder,
        repair_order_ids=[ro.id for ro in written],
        shop_ids=sorted({ro.shop_id for ro in written}),
    )
    _boards_changed(written, renamed, cards_new=True, stamped=stamped)
    return written


@transaction.atomic
def repair_orders_update(
    *, shop_entries: Sequence[ShopBatch], shop_ids_allowed: Collection[int] | None = None
) -> list[WrittenRepairOrder]:
    """Apply the sent fields to existing ROs, all or none. Returns them in request order.

    Only the fields in each input change; a sent team replaces the RO's
    team. Every RO of the batch gets version + 1 and a new updated_at, even
    if the values sent equal the stored ones: the source touched it, and the
    version must grow with any change. Its stage never changes here.
    """
    _require_complete(shop_entries)
    locked = _update_targets_lock(shop_entries, shop_ids_allowed)
    now = timezone.now()
    written: list[WrittenRepairOrder] = []
    changes: list[tuple[int, Mapping[str, Any]]] = []
    fields_sent: set[str] = set()
    teams: list[TeamWrite] = []
    for entry in shop_entries:
        for ro in entry.repair_orders:
            pk, stage_id = locked[(entry.shop_id, ro.repair_number)]
            written.append(WrittenRepairOrder(pk, entry.shop_id, ro.repair_number, stage_id))
            changes.append((pk, ro.fields))
            fields_sent.update(ro.fields)
            if ro.team is not None:
                teams.append((pk, entry.shop_id, ro.team))
    renamed = _teams_write(teams, now, replace=True)
    sql.repair_orders_update(changes=sorted(changes, key=lambda c: c[0]), fields=fields_sent, now=now)
    if fields_sent & FLOW_SUMMARY_FIELDS:
        flow_summaries_refresh(repair_order_ids=[pk for pk, _ in changes])
    repair_orders_updated.send(
        sender=RepairOrder,
        repair_order_ids=[ro.id for ro in written],
        shop_ids=sorted({ro.shop_id for ro in written}),
    )
    _boards_changed(written, renamed)
    return written


def _boards_changed(
    written: Sequence[WrittenRepairOrder],
    renamed: Collection[int],
    *,
    cards_new: bool = False,
    stamped: Mapping[int, int] | None = None,
) -> None:
    """One board version per shop of the batch, in one statement (repairs.live locks the
    shops' version rows in shop-id order: two batches cannot deadlock). `renamed`: people
    whose details changed: their other cards show new initials too."""
    changed: dict[int, list[int]] = {}
    for ro in written:
        changed.setdefault(ro.shop_id, []).append(ro.id)
    boards_changed(changes=changed, person_ids=renamed, cards_new=cards_new, stamped=stamped)


def _update_targets_lock(
    shop_entries: Sequence[ShopBatch], shop_ids_allowed: Collection[int] | None
) -> dict[tuple[int, str], tuple[int, int]]:
    """Lock the ROs a PATCH names and check the batch: {(shop_id, number): (id, stage_id)}.

    Locked in id order, so two batches touching the same ROs cannot deadlock.
    Raises BatchRejected with every data problem (unknown shops, numbers not found).
    """
    found_shops, keys = batch_targets(shop_entries=shop_entries, shop_ids_allowed=shop_ids_allowed)
    locked = {}
    if keys:
        rows = repair_orders_matching(keys=keys).select_for_update().order_by("id")
        # Plain tuples, not model instances: 1,000 of them are measurable here.
        for pk, shop_id, number, stage_id in rows.values_list("id", "shop_id", "repair_number", "stage_id"):
            if (shop_id, number) in keys:
                locked[(shop_id, number)] = (pk, stage_id)
    problems = batch_problems(
        mode=BatchMode.UPDATE, shop_entries=shop_entries, shops_found=found_shops, numbers_found=locked.keys()
    )
    if problems:
        raise BatchRejected(problems)
    return locked


def _teams_write(teams: Sequence[TeamWrite], now: datetime, *, replace: bool = False) -> list[int]:
    """Upsert the people of the teams and link them in team order; with
    `replace`, the ROs' old links go first (after the people are locked).
    Returns the ids of the people who existed and whose details changed."""
    if not teams:
        return []
    people, renamed = _people_write(teams, now)
    if replace:
        RepairTeamMember.objects.filter(repair_order_id__in=[pk for pk, _, _ in teams]).delete()
    links = [
        (repair_order_id, people[(shop_id, member.external_id)], position)
        for repair_order_id, shop_id, team in teams
        for position, member in enumerate(team)
    ]
    if links:
        sql.team_links_insert(links=links)
    return [people[key] for key in renamed]


def _people_write(
    teams: Sequence[TeamWrite], now: datetime
) -> tuple[dict[tuple[int, str], int], list[tuple[int, str]]]:
    """Create or update every person the teams name; their ids by (shop_id, external_id),
    and the keys of the people who existed and whose details changed.

    A person is keyed by (shop, external id). The fields given are applied in
    request order, so the latest RO that names a person wins, field by field,
    over what is stored (repairs.people). The people that exist are locked in
    id order, so concurrent batches apply their names one after the other;
    the upsert is sorted so new people's row locks are taken in one order too.
    A person who exists and whose details do not change is not written again
    (locked, so no one changes them before the batch commits): a shop's batches
    name the same people over and over, and rewriting each of them cost a new row
    version and index entries per person (docs/bench.md).
    """
    given: dict[tuple[int, str], dict[str, str | None]] = {}
    for _, shop_id, team in teams:
        for member in team:
            given.setdefault((shop_id, member.external_id), {}).update(member.fields)
    if not given:
        return {}, []
    stored = sql.people_lock(keys=list(given))
    ids: dict[tuple[int, str], int] = {}
    writes = []
    renamed = []
    for key in sorted(given):
        pk, stored_fields = stored.get(key, (None, None))
        fields = person_fields_merge(stored=stored_fields, given=given[key])
        if pk is not None and fields == stored_fields:
            ids[key] = pk
            continue
        writes.append((key[0], key[1], fields))
        if pk is not None:
            renamed.append(key)
    # Sent even with no rows: a batch costs the same statements whether or not its people change.
    ids.update(sql.people_upsert(people=writes, now=now))
    return ids, renamed


@functools.cache
def _column_defaults() -> dict[str, Any]:
    return {name: RepairOrder._meta.get_field(name).get_default() for name in COLUMNS}


def _require_complete(shop_entries: Sequence[ShopBatch]) -> None:
    if any(ro is None for entry in shop_entries for ro in entry.repair_orders):
        raise ValueError("A batch to write must not contain unreadable ROs (None).")
