"""Every write of the domain. Callers validate input, call one service, render."""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from . import batch_sql
from .batch import (
    PERSON_FIELDS,
    BatchMode,
    BatchRejected,
    ShopBatch,
    TeamMemberInput,
    WrittenRepairOrder,
    batch_problems,
    batch_problems_find,
    repair_orders_matching,
    requested_keys,
    shops_found,
)
from .models import Membership, Person, RepairOrder, RepairTeamMember, Shop, Stage, StageChange
from .signals import stage_changed


class StaleVersion(Exception):
    """The caller's version is not the RO's: someone changed it meanwhile."""

    def __init__(self, repair_order: RepairOrder):
        super().__init__(f"RO {repair_order.repair_number} is at version {repair_order.version}.")
        self.repair_order = repair_order


class StaleEvent(Exception):
    """A reported event is older than the RO's latest recorded stage change."""

    def __init__(self, repair_order: RepairOrder):
        super().__init__(f"RO {repair_order.repair_number} changed stage after that event.")
        self.repair_order = repair_order


@dataclass(frozen=True)
class MoveResult:
    repair_order: RepairOrder
    stage_change: StageChange | None  # None when the RO already was in that stage

    @property
    def moved(self) -> bool:
        return self.stage_change is not None


@transaction.atomic
def repair_order_move(
    *,
    repair_order_id: int,
    stage_id: int,
    source: str,
    user: AbstractBaseUser | None = None,
    expected_version: int | None = None,
    event_at: datetime | None = None,
) -> MoveResult:
    """Move an RO to a stage: the one way any stage change happens.

    Locks the RO row so concurrent moves serialise; `expected_version` (the
    board's) turns a lost update into StaleVersion. `event_at` is for sources
    that report the past (beacons): the move is refused with StaleEvent when
    a later change is already recorded for the RO, and the change is dated
    when it happened. Returns the RO as stored afterwards.
    """
    # No select_related here: under READ COMMITTED, PostgreSQL re-checks a
    # locked row's join after waiting for a concurrent move, sees the new
    # stage_id against the old stage row and drops the row (DoesNotExist).
    ro = RepairOrder.objects.select_for_update().get(pk=repair_order_id)
    if expected_version is not None and ro.version != expected_version:
        raise StaleVersion(ro)
    if event_at is not None and event_at < ro.stage_entered_at:
        raise StaleEvent(ro)
    stage = Stage.objects.get(pk=stage_id)
    if ro.stage_id == stage.id:
        return MoveResult(ro, None)
    now = event_at or timezone.now()
    change = StageChange.objects.create(
        repair_order=ro,
        from_stage_id=ro.stage_id,
        to_stage=stage,
        changed_at=now,
        changed_by=user if user is not None and user.is_authenticated else None,
        source=source,
    )
    RepairOrder.objects.filter(pk=ro.pk).update(
        stage=stage, stage_entered_at=now, version=F("version") + 1, updated_at=timezone.now()
    )
    ro.refresh_from_db()
    stage_changed.send(sender=RepairOrder, repair_order=ro, stage_change=change)
    return MoveResult(ro, change)


@transaction.atomic
def shop_create_or_update(*, shop_id: int, name: str) -> tuple[Shop, bool]:
    shop, created = Shop.objects.update_or_create(id=shop_id, defaults={"name": name})
    return shop, created


@transaction.atomic
def membership_grant(*, username: str, shop_id: int, role: str, password: str | None = None):
    """Create the user if needed and set their role in one shop. Returns (user, created)."""
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username)
    if password is not None:
        user.set_password(password)
        user.save(update_fields=["password"])
    Membership.objects.update_or_create(user=user, shop_id=shop_id, defaults={"role": role})
    return user, created


# --- Batch writes (SPEC §3) --------------------------------------------------
#
# Both take already-validated input and do a fixed number of bulk queries
# whatever the number of ROs: a few IN reads, one bulk insert/update per
# table, people upserted with INSERT ... ON CONFLICT. Data problems are
# raised together as BatchRejected before anything is written; any other
# error rolls the whole batch back.


def repair_orders_create(
    *, shop_entries: Sequence[ShopBatch], shop_ids_allowed: Collection[int] | None = None
) -> list[WrittenRepairOrder]:
    """Create every RO of the batch in stage 1, or none. Returns them in request order.

    `shop_ids_allowed` limits the shops the caller may write (None: any); a
    shop outside it is reported as not found.
    """
    try:
        return _repair_orders_create(shop_entries=shop_entries, shop_ids_allowed=shop_ids_allowed)
    except IntegrityError:
        # A concurrent request took one of our numbers between the check and
        # the insert (the unique constraint closed the race). Its transaction
        # has committed by now, so a fresh check names the number.
        problems = batch_problems_find(
            mode=BatchMode.CREATE, shop_entries=shop_entries, shop_ids_allowed=shop_ids_allowed
        )
        if problems:
            raise BatchRejected(problems) from None
        raise


@transaction.atomic
def _repair_orders_create(
    *, shop_entries: Sequence[ShopBatch], shop_ids_allowed: Collection[int] | None
) -> list[WrittenRepairOrder]:
    _require_complete(shop_entries)
    shop_ids, keys = requested_keys(shop_entries)
    found_shops = shops_found(shop_ids=shop_ids, shop_ids_allowed=shop_ids_allowed)
    keys = {k for k in keys if k[0] in found_shops}
    now = timezone.now()
    if batch_sql.is_available():
        return _repair_orders_insert_sql(shop_entries, now, found_shops=found_shops, keys=keys)
    problems = batch_problems(
        mode=BatchMode.CREATE, shop_entries=shop_entries, shops_found=found_shops, numbers_found=_taken(keys)
    )
    if problems:
        raise BatchRejected(problems)
    created: list[RepairOrder] = []
    teams: list[tuple[RepairOrder, Sequence[TeamMemberInput]]] = []
    for entry in shop_entries:
        for ro_input in entry.repair_orders:
            ro = RepairOrder(
                shop_id=entry.shop_id,
                repair_number=ro_input.repair_number,
                stage_id=Stage.FIRST_ID,
                stage_entered_at=now,
                **ro_input.fields,
            )
            created.append(ro)
            if ro_input.team:
                teams.append((ro, ro_input.team))
    RepairOrder.objects.bulk_create(created)
    # The first line of each RO's stage history: where it started.
    StageChange.objects.bulk_create(
        StageChange(
            repair_order=ro,
            from_stage=None,
            to_stage_id=ro.stage_id,
            changed_at=now,
            source=StageChange.Source.SYSTEM,
        )
        for ro in created
    )
    if teams:
        people = _people_upsert(teams=teams, now=now)
        RepairTeamMember.objects.bulk_create(_team_links(teams, people))
    return [_written(ro) for ro in created]


def _written(ro: RepairOrder) -> WrittenRepairOrder:
    return WrittenRepairOrder(
        id=ro.pk, shop_id=ro.shop_id, repair_number=ro.repair_number, stage_id=ro.stage_id
    )


def _taken(keys: Collection[tuple[int, str]]) -> set[tuple[int, str]]:
    """The (shop_id, repair_number) of `keys` that exist."""
    if not keys:
        return set()
    return {k for k in repair_orders_matching(keys=keys).values_list("shop_id", "repair_number") if k in keys}


def _repair_orders_insert_sql(
    shop_entries: Sequence[ShopBatch], now: datetime, *, found_shops: set[int], keys: set[tuple[int, str]]
) -> list[WrittenRepairOrder]:
    """The same rows as the ORM path, in a few statements on PostgreSQL (batch_sql).

    Numbers already taken are found by the insert itself (ON CONFLICT DO
    NOTHING, which also waits for a concurrent writer of the same number),
    not by a read before it: a query less, and no scan of the shops' ROs.
    Any problem rolls the whole batch back, as on the ORM path.
    """

    def rejected(taken: Collection[tuple[int, str]]) -> BatchRejected:
        return BatchRejected(
            batch_problems(
                mode=BatchMode.CREATE, shop_entries=shop_entries, shops_found=found_shops, numbers_found=taken
            )
        )

    if rejected(()).problems:  # list every problem of the batch, taken numbers included
        raise rejected(_taken(keys))
    fields = sorted({name for entry in shop_entries for ro in entry.repair_orders for name in ro.fields})
    # A field some ROs left out gets the model's default on those, as RepairOrder(...) would.
    defaults = {name: RepairOrder._meta.get_field(name).get_default() for name in fields}
    rows = [
        (entry.shop_id, ro.repair_number, defaults | dict(ro.fields))
        for entry in shop_entries
        for ro in entry.repair_orders
    ]
    ids = batch_sql.repair_orders_insert(rows=rows, fields=fields, stage_id=Stage.FIRST_ID, now=now)
    if len(ids) < len(rows):
        raise rejected(keys - ids.keys())
    teams = [
        (ids[(entry.shop_id, ro.repair_number)], entry.shop_id, ro.team)
        for entry in shop_entries
        for ro in entry.repair_orders
        if ro.team
    ]
    _teams_write_sql(teams, now)
    return [
        WrittenRepairOrder(
            id=ids[(entry.shop_id, ro.repair_number)],
            shop_id=entry.shop_id,
            repair_number=ro.repair_number,
            stage_id=Stage.FIRST_ID,
        )
        for entry in shop_entries
        for ro in entry.repair_orders
    ]


def _teams_write_sql(
    teams: Sequence[tuple[int, int, Sequence[TeamMemberInput]]], now: datetime, *, replace: bool = False
) -> None:
    """Upsert the people of (repair_order_id, shop_id, team) and link them in
    team order; with `replace`, the ROs' old links go first (after the people,
    as on the ORM path)."""
    if not teams:
        return
    merged: dict[tuple[int, str], dict[str, str | None]] = {}
    for _, shop_id, team in teams:
        for member in team:
            merged.setdefault((shop_id, member.external_id), {}).update(member.fields)
    people = batch_sql.people_upsert(people=_people_values(merged), now=now) if merged else {}
    if replace:
        RepairTeamMember.objects.filter(repair_order_id__in=[pk for pk, _, _ in teams]).delete()
    links = [
        (repair_order_id, people[(shop_id, member.external_id)], position)
        for repair_order_id, shop_id, team in teams
        for position, member in enumerate(team)
    ]
    if links:
        batch_sql.team_links_insert(links=links)


def _people_values(merged: dict[tuple[int, str], dict[str, str | None]]) -> list[tuple[int, str, dict]]:
    """Every person's full set of fields: what was sent over what is stored.

    Locks the people that exist (one read, in id order) so concurrent batches
    apply their names one after the other; sorted so concurrent upserts take
    the row locks of new people in the same order too.
    """
    stored = batch_sql.people_lock(keys=list(merged))
    return [
        (key[0], key[1], dict.fromkeys(PERSON_FIELDS) | stored.get(key, {}) | merged[key])
        for key in sorted(merged)
    ]


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
    if batch_sql.is_available():
        return _repair_orders_update_sql(shop_entries, shop_ids_allowed)
    locked = _update_targets_lock(
        shop_entries,
        shop_ids_allowed,
        rows=lambda locking: (((ro.shop_id, ro.repair_number), ro) for ro in locking),
    )

    now = timezone.now()
    result: list[RepairOrder] = []
    fields_sent: set[str] = set()
    teams: list[tuple[RepairOrder, Sequence[TeamMemberInput]]] = []
    for entry in shop_entries:
        for ro_input in entry.repair_orders:
            ro = locked[(entry.shop_id, ro_input.repair_number)]
            result.append(ro)
            for name, value in ro_input.fields.items():
                setattr(ro, name, value)
            fields_sent.update(ro_input.fields)
            ro.version += 1
            ro.updated_at = now
            if ro_input.team is not None:
                teams.append((ro, ro_input.team))

    if teams:
        people = _people_upsert(teams=teams, now=now)
        RepairTeamMember.objects.filter(repair_order_id__in=[ro.pk for ro, _ in teams]).delete()
        RepairTeamMember.objects.bulk_create(_team_links(teams, people))
    # One UPDATE for all: each row gets its own values (CASE on the id); ROs
    # that did not send a field are written their current, locked value.
    RepairOrder.objects.bulk_update(
        sorted(result, key=lambda ro: ro.pk), fields=sorted(fields_sent | {"version", "updated_at"})
    )
    return [_written(ro) for ro in result]


def _repair_orders_update_sql(
    shop_entries: Sequence[ShopBatch], shop_ids_allowed: Collection[int] | None
) -> list[WrittenRepairOrder]:
    """repair_orders_update on PostgreSQL: the same locks and checks, and one
    statement per table (batch_sql) in place of bulk_update's CASE per row."""
    # Plain tuples, not model instances: 1,000 of them are measurable here.
    locked = _update_targets_lock(
        shop_entries,
        shop_ids_allowed,
        rows=lambda locking: (
            ((shop_id, number), (pk, stage_id))
            for pk, shop_id, number, stage_id in locking.values_list(
                "id", "shop_id", "repair_number", "stage_id"
            )
        ),
    )

    now = timezone.now()
    result: list[WrittenRepairOrder] = []
    changes: list[tuple[int, Mapping[str, Any]]] = []
    fields_sent: set[str] = set()
    teams: list[tuple[int, int, Sequence[TeamMemberInput]]] = []
    for entry in shop_entries:
        for ro_input in entry.repair_orders:
            pk, stage_id = locked[(entry.shop_id, ro_input.repair_number)]
            result.append(WrittenRepairOrder(pk, entry.shop_id, ro_input.repair_number, stage_id))
            changes.append((pk, ro_input.fields))
            fields_sent.update(ro_input.fields)
            if ro_input.team is not None:
                teams.append((pk, entry.shop_id, ro_input.team))
    _teams_write_sql(teams, now, replace=True)
    batch_sql.repair_orders_update(changes=sorted(changes, key=lambda c: c[0]), fields=fields_sent, now=now)
    return result


def _update_targets_lock(
    shop_entries: Sequence[ShopBatch], shop_ids_allowed: Collection[int] | None, *, rows
):
    """Lock the ROs a PATCH names and check the batch; {(shop_id, number): row}.

    `rows` turns the locking QuerySet into ((shop_id, number), row) pairs, so
    each write path reads the rows in the shape it needs. Raises BatchRejected
    with every data problem (unknown shops, numbers not found).
    """
    shop_ids, keys = requested_keys(shop_entries)
    found_shops = shops_found(shop_ids=shop_ids, shop_ids_allowed=shop_ids_allowed)
    keys = {k for k in keys if k[0] in found_shops}
    locked = {}
    if keys:
        # Lock in id order so two batches touching the same ROs cannot deadlock.
        for key, row in rows(repair_orders_matching(keys=keys).select_for_update().order_by("id")):
            if key in keys:
                locked[key] = row
    problems = batch_problems(
        mode=BatchMode.UPDATE, shop_entries=shop_entries, shops_found=found_shops, numbers_found=locked.keys()
    )
    if problems:
        raise BatchRejected(problems)
    return locked


def _require_complete(shop_entries: Sequence[ShopBatch]) -> None:
    if any(ro is None for entry in shop_entries for ro in entry.repair_orders):
        raise ValueError("A batch to write must not contain unreadable ROs (None).")


def _people_upsert(
    *, teams: Sequence[tuple[RepairOrder, Sequence[TeamMemberInput]]], now: datetime
) -> dict[tuple[int, str], Person]:
    """Create or update every person named in the teams: one lock read, one upsert.

    A person is keyed by (shop, external id). The fields sent are applied in
    request order, so the latest request (and the latest RO in it) wins; a
    field not sent keeps its stored value.
    """
    merged: dict[tuple[int, str], dict[str, str | None]] = {}
    for ro, team in teams:
        for member in team:
            merged.setdefault((ro.shop_id, member.external_id), {}).update(member.fields)
    if not merged:
        return {}
    existing: dict[tuple[int, str], Person] = {}
    for person in (
        Person.objects.select_for_update()
        .filter(shop_id__in={k[0] for k in merged}, external_id__in={k[1] for k in merged})
        .order_by("id")
    ):
        key = (person.shop_id, person.external_id)
        if key in merged:
            existing[key] = person
    rows: list[Person] = []
    # Sorted, so concurrent upserts take the row locks in the same order.
    for key in sorted(merged):
        current = existing.get(key)
        values = {name: getattr(current, name) if current else None for name in PERSON_FIELDS}
        values.update(merged[key])
        rows.append(Person(shop_id=key[0], external_id=key[1], updated_at=now, **values))
    Person.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["shop", "external_id"],
        update_fields=[*sorted(PERSON_FIELDS), "updated_at"],
    )
    people = {(p.shop_id, p.external_id): p for p in rows}
    if any(p.pk is None for p in rows):  # backends that cannot return ids from an upsert
        for person in Person.objects.filter(
            shop_id__in={k[0] for k in merged}, external_id__in={k[1] for k in merged}
        ):
            if (key := (person.shop_id, person.external_id)) in people:
                people[key].pk = person.pk
    return people


def _team_links(
    teams: Sequence[tuple[RepairOrder, Sequence[TeamMemberInput]]], people: dict[tuple[int, str], Person]
) -> list[RepairTeamMember]:
    return [
        RepairTeamMember(repair_order=ro, person=people[(ro.shop_id, member.external_id)], position=position)
        for ro, team in teams
        for position, member in enumerate(team)
    ]


class TeamMemberConflict(Exception):
    """The person is not of the RO's shop."""


def _repair_order_touch(*, repair_order_ids) -> None:
    # A team change is a change of the RO (SPEC §4 `version`): the board's
    # optimistic lock and the read API's `updated_since` must see it.
    RepairOrder.objects.filter(pk__in=repair_order_ids).update(
        version=F("version") + 1, updated_at=timezone.now()
    )


@transaction.atomic
def repair_team_member_add(
    *,
    repair_order_id: int,
    person_id: int | None = None,
    external_id: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    title: str | None = None,
) -> Person:
    """Add a person to an RO's team: an existing person of the shop (`person_id`),
    or one given by the source system's employee id (`external_id`).

    An `external_id` the shop already knows is that person, whose name and
    title follow this request, as with the batch API (SPEC §3). Adding someone
    already on the team changes nothing but their details.
    """
    ro = RepairOrder.objects.select_for_update().get(pk=repair_order_id)
    touched: set[int] = set()
    if person_id is not None:
        person = Person.objects.filter(shop_id=ro.shop_id, pk=person_id).first()
        if person is None:
            raise TeamMemberConflict(f"Person {person_id} is not of shop {ro.shop_id}.")
    else:
        if not external_id:
            raise ValueError("person_id or external_id is required")
        person, person_created = Person.objects.select_for_update().get_or_create(
            shop_id=ro.shop_id,
            external_id=external_id,
            defaults={"first_name": first_name, "last_name": last_name, "title": title},
        )
        details = (first_name, last_name, title)
        if not person_created and (person.first_name, person.last_name, person.title) != details:
            person.first_name, person.last_name, person.title = details
            person.save(update_fields=["first_name", "last_name", "title", "updated_at"])
            touched.update(person.team_links.values_list("repair_order_id", flat=True))
    last = ro.team_links.order_by("-position").values_list("position", flat=True).first()
    _, created = RepairTeamMember.objects.get_or_create(
        repair_order=ro, person=person, defaults={"position": 0 if last is None else last + 1}
    )
    if created:
        touched.add(ro.pk)
    _repair_order_touch(repair_order_ids=touched)
    return person


@transaction.atomic
def repair_team_member_remove(*, repair_order_id: int, person_id: int) -> bool:
    """Take a person off an RO's team (the person stays in the shop). Returns whether they were on it."""
    ro = RepairOrder.objects.select_for_update().get(pk=repair_order_id)
    deleted, _ = RepairTeamMember.objects.filter(repair_order=ro, person_id=person_id).delete()
    if deleted:
        _repair_order_touch(repair_order_ids=[ro.pk])
    return bool(deleted)


@transaction.atomic
def person_update(
    *, shop_id: int, person_id: int, first_name: str | None, last_name: str | None, title: str | None
) -> Person:
    """Change a team member's name or title: every RO they are on changes with them."""
    person = Person.objects.select_for_update().get(shop_id=shop_id, pk=person_id)
    person.first_name, person.last_name, person.title = first_name, last_name, title
    person.save(update_fields=["first_name", "last_name", "title", "updated_at"])
    _repair_order_touch(repair_order_ids=person.team_links.values_list("repair_order_id", flat=True))
    return person


@transaction.atomic
def shop_settings_update(*, shop_id: int, days_in_stage_amber: int, days_in_stage_red: int) -> Shop:
    if not 0 < days_in_stage_amber < days_in_stage_red:
        raise ValueError("0 < amber < red is required")
    shop = Shop.objects.select_for_update().get(pk=shop_id)
    shop.days_in_stage_amber, shop.days_in_stage_red = days_in_stage_amber, days_in_stage_red
    shop.save(update_fields=["days_in_stage_amber", "days_in_stage_red"])
    return shop
