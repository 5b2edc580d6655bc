"""Reads shared by the board and the API. Each returns a QuerySet (or plain data built from one)."""

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
    Window,
    prefetch_related_objects,
)
from django.db.models.functions import Concat, Lower, RowNumber

from . import board_hooks
from .cards import overdue_condition
from .models import BoardVersion, Membership, Person, RepairOrder, RepairTeamMember, Shop, Stage, StageChange
from .stages import STAGES


def stage_list() -> QuerySet[Stage]:
    return Stage.objects.order_by("position")


def shop_list(*, shop_ids: Collection[int]) -> QuerySet[Shop]:
    return Shop.objects.filter(pk__in=shop_ids).order_by("id")


def memberships_of_user(*, user) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("shop").order_by("shop__name", "shop_id")


def membership_get(*, user, shop_id: int) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.select_related("shop").filter(user=user, shop_id=shop_id).first()


# ---- Search: one definition for the board's box and the API's `q` (SPEC §4, §7) ---------------------------

# What `q` looks in, besides the team members' names: RO number, customer, vehicle, insurer.
SEARCH_FIELDS = (
    "repair_number",
    "customer_first_name",
    "customer_last_name",
    "customer_email",
    "customer_phone_number",
    "vehicle_make",
    "vehicle_model",
    "vehicle_vin",
    "vehicle_license_plate",
    "insurance_name",
)
SEARCH_MAX_LENGTH = 100


def repair_order_search_text() -> Concat:
    """SEARCH_FIELDS in one text, space-separated (a word never spans two fields).

    One expression, so one trigram index (migration 0005_search_indexes) serves every field.
    """
    parts = [part for name in SEARCH_FIELDS for part in (F(name), Value(" "))][:-1]
    return Concat(*parts, output_field=TextField())


def repair_order_search_condition(q: str, *, shop_id: int) -> Q:
    """The condition an RO of the shop meets to match the search `q`.

    Case-insensitive; every word must be found (as part of) one of SEARCH_FIELDS or a team
    member's first or last name: "silverado baggins" finds Bilbo Baggins's Silverado, "606"
    finds RO 606471. An empty `q` matches everything.

    Each word is a set of ids, the ROs whose fields contain it (the trigram index) united
    with the ROs of the people whose names do: PostgreSQL hashes it once. An EXISTS per RO
    and ten ILIKEs per row took seconds on a shop of 45,000 Active ROs (docs/board.md).
    Both sets are the shop's: unscoped, each word was looked up in every shop of the
    database (the people read whole), 2.4× the cost at 10,000 shops (docs/bench.md §8).
    """
    condition = Q()
    for word in q.split():
        by_fields = (
            RepairOrder.objects.alias(search_text=repair_order_search_text())
            .filter(shop_id=shop_id, search_text__icontains=word)
            .values("id")
        )
        by_team = RepairTeamMember.objects.filter(
            Q(person__first_name__icontains=word) | Q(person__last_name__icontains=word),
            person__shop_id=shop_id,
        ).values("repair_order_id")
        condition &= Q(pk__in=by_fields.union(by_team))
    return condition


def repair_orders_search(queryset: QuerySet[RepairOrder], *, q: str, shop_id: int) -> QuerySet[RepairOrder]:
    return queryset.filter(repair_order_search_condition(q, shop_id=shop_id)) if q.strip() else queryset


def _team_prefetch() -> Prefetch:
    return Prefetch(
        "team_links",
        queryset=RepairTeamMember.objects.select_related("person").order_by("position", "id"),
    )


def _with_team(queryset: QuerySet[RepairOrder]) -> QuerySet[RepairOrder]:
    return queryset.select_related("stage").prefetch_related(_team_prefetch())


def repair_order_team_loaded(repair_order: RepairOrder) -> RepairOrder:
    """An RO already in hand (a writer's, its stage set), made readable as
    repair_orders_to_read's are: its team loaded, in one query."""
    prefetch_related_objects([repair_order], _team_prefetch())
    return repair_order


def repair_orders_to_read(*, repair_order_ids: Collection[int]) -> QuerySet[RepairOrder]:
    """ROs as the read API renders them (stage and team loaded), in id order."""
    return _with_team(RepairOrder.objects.filter(pk__in=list(repair_order_ids))).order_by("id")


def repair_order_page(
    *,
    shop_id: int,
    limit: int,
    after: tuple[datetime, int] | None = None,
    stage_id: int | None = None,
    status: str | None = None,
    updated_since: datetime | None = None,
    q: str | None = None,
) -> QuerySet[RepairOrder]:
    """One page of a shop's ROs in (updated_at, id) order, after a keyset position.

    Keyset, not offset: rows inserted while a client pages land after its
    position and never shift a page. An RO changed meanwhile moves to the
    end and is seen again with its new data, never skipped. Ask for one row
    more than a page to learn whether another page follows.
    """
    queryset = RepairOrder.objects.filter(shop_id=shop_id)
    if stage_id is not None:
        queryset = queryset.filter(stage_id=stage_id)
    if status is not None:
        # Case-insensitive like the board; Lower() matches the status index.
        queryset = queryset.alias(status_lower=Lower("status")).filter(status_lower=status.lower())
    if updated_since is not None:
        queryset = queryset.filter(updated_at__gte=updated_since)
    if q:
        queryset = repair_orders_search(queryset, q=q, shop_id=shop_id)
    if after is not None:
        after_updated_at, after_id = after
        queryset = queryset.filter(
            Q(updated_at__gt=after_updated_at) | Q(updated_at=after_updated_at, id__gt=after_id)
        )
    return _with_team(queryset.order_by("updated_at", "id"))[:limit]


def repair_order_by_number(*, shop_id: int, repair_number: str) -> QuerySet[RepairOrder]:
    return _with_team(RepairOrder.objects.filter(shop_id=shop_id, repair_number=repair_number))


def active_repair_orders(*, shop_id: int) -> QuerySet[RepairOrder]:
    """ROs on the board: status Active, compared case-insensitively (SPEC §3), using ro_shop_status_idx."""
    return RepairOrder.objects.alias(status_lower=Lower("status")).filter(
        shop_id=shop_id, status_lower="active"
    )


def _team_prefetch() -> Prefetch:
    return Prefetch("team_links", queryset=RepairTeamMember.objects.select_related("person"))


# A column draws at most this many cards and says how many more match: a shop with tens of
# thousands of Active ROs (a feed that never closes them) took ~15 s to draw them all; any car
# beyond the limit is still found by the search.
COLUMN_CARD_LIMIT = 100


@dataclass(frozen=True)
class BoardFilter:
    """What the board's search box and quick filters ask for (SPEC §7); empty: every car."""

    q: str = ""
    overdue: bool = False
    rental: bool = False
    insurer: str = ""
    member: int | None = None  # a Person id of the shop

    @property
    def active(self) -> bool:
        return self != BoardFilter()

    def condition(self, *, shop_id: int, now: datetime) -> Q:
        condition = repair_order_search_condition(self.q, shop_id=shop_id)
        if self.overdue:
            condition &= overdue_condition(now=now)
        if self.rental:
            condition &= Q(rental_car=True)
        if self.insurer:
            condition &= Q(insurance_name__iexact=self.insurer)
        if self.member is not None:
            on_team = RepairTeamMember.objects.filter(repair_order_id=OuterRef("pk"), person_id=self.member)
            condition &= Q(Exists(on_team))
        return condition

    def query_string(self) -> str:
        """The filter as the board's URL carries it, in one canonical order ("" when empty)."""
        params = {
            "q": self.q.strip(),
            "overdue": "1" if self.overdue else "",
            "rental": "1" if self.rental else "",
            "insurer": self.insurer,
            "member": "" if self.member is None else str(self.member),
        }
        return urlencode({name: value for name, value in params.items() if value})


def board_repair_orders(*, shop_id: int) -> QuerySet[RepairOrder]:
    """The cards of a board, most urgent delivery first (teams: board_teams)."""
    qs = active_repair_orders(shop_id=shop_id).order_by("stage_id", "scheduled_delivery", "repair_number")
    for annotate in board_hooks.card_annotations():
        qs = annotate(qs)
    return qs


_TEAM_COLUMNS = (
    "repair_order_id",
    "person_id",
    "person__shop_id",
    "person__external_id",
    "person__first_name",
    "person__last_name",
    "person__title",
)


def board_teams(*, shop_id: int, repair_order_ids: Collection[int]) -> dict[int, list[Person]]:
    """The team of each RO, in team order, in one query; a person on many cards is one object.

    Rows rather than a prefetch of RepairTeamMember and Person instances: a
    fraction of the cost on a big board (docs/bench.md, "Board"). The people
    are the shop's (a team member always is): PostgreSQL then reads the shop's
    few dozen people once instead of looking up 1,500 team places one by one
    among the whole group's (10 ms → 1-2 ms with 200,000 people, docs/bench.md §7).
    """
    people: dict[int, Person] = {}
    teams: dict[int, list[Person]] = {}
    rows = (
        RepairTeamMember.objects.filter(repair_order_id__in=list(repair_order_ids), person__shop_id=shop_id)
        .order_by("repair_order_id", "position", "id")
        .values_list(*_TEAM_COLUMNS)
    )
    for repair_order_id, person_id, person_shop_id, external_id, first_name, last_name, title in rows:
        person = people.get(person_id)
        if person is None:
            person = people[person_id] = Person(
                id=person_id,
                shop_id=person_shop_id,
                external_id=external_id,
                first_name=first_name,
                last_name=last_name,
                title=title,
            )
        teams.setdefault(repair_order_id, []).append(person)
    return teams


@dataclass
class BoardColumn:
    stage: Stage
    cards: list[RepairOrder] = field(default_factory=list)
    total: int = 0  # Active cars in the stage
    matched: int = 0  # of those, the ones the filter lets through

    @property
    def count(self) -> int:
        return self.matched

    @property
    def more(self) -> int:
        """Matching cars the column does not draw (COLUMN_CARD_LIMIT)."""
        return self.matched - len(self.cards)

    @property
    def more_label(self) -> str:
        return f"{self.more:,}"


@dataclass
class Board:
    columns: list[BoardColumn]
    total: int  # Active cars of the shop
    matched: int  # of those, the ones the filter lets through
    overdue: int  # Active cars past their delivery date, filter or not
    insurers: list[str]  # the insurers of the Active cars, for the quick filter


def _board_stages() -> list[Stage]:
    # The 15 stages are fixed (SPEC §1, repairs.stages): no query for them.
    return [Stage(id=stage_id, name=name, position=position) for position, stage_id, name in STAGES]


@dataclass
class BoardCounts:
    columns: dict[int, BoardColumn]  # by stage id, in position order, cards not loaded
    overdue: int  # Active cars past their delivery date, filter or not
    insurers: list[str]  # the insurers of the Active cars (only when asked for)

    @property
    def total(self) -> int:
        return sum(column.total for column in self.columns.values())

    @property
    def matched(self) -> int:
        return sum(column.matched for column in self.columns.values())


def board_counts(
    *, shop_id: int, now: datetime, board_filter: BoardFilter = BoardFilter(), insurers: bool = False
) -> BoardCounts:
    """The counts of the 15 columns and the top bar ("12 of 240", overdue), in one query
    over the shop's Active ROs; with `insurers`, the insurer names for the quick filter too."""
    matching = board_filter.condition(shop_id=shop_id, now=now) if board_filter.active else None
    rows = (
        active_repair_orders(shop_id=shop_id)
        .order_by()
        .values("stage_id", *(["insurance_name"] if insurers else []))
        .annotate(
            total=Count("id"),
            overdue=Count("id", filter=overdue_condition(now=now)),
            **({"matched": Count("id", filter=matching)} if matching is not None else {}),
        )
    )
    columns = {stage.id: BoardColumn(stage) for stage in _board_stages()}
    names: dict[str, str] = {}
    overdue = 0
    for row in rows:
        column = columns[row["stage_id"]]
        column.total += row["total"]
        column.matched += row.get("matched", row["total"])
        overdue += row["overdue"]
        if name := (row.get("insurance_name") or "").strip():
            names.setdefault(name.casefold(), name)
    return BoardCounts(columns, overdue, sorted(names.values(), key=str.casefold))


def board_load(*, shop_id: int, now: datetime, board_filter: BoardFilter = BoardFilter()) -> Board:
    """The 15 columns in position order with their cards (each RO with its `team_members`),
    counts and the insurers: 3 queries whatever the number of ROs.

    A column draws at most COLUMN_CARD_LIMIT cards, most urgent first.
    """
    counts = board_counts(shop_id=shop_id, now=now, board_filter=board_filter, insurers=True)
    columns = counts.columns
    ros = board_repair_orders(shop_id=shop_id)
    if board_filter.active:
        ros = ros.filter(board_filter.condition(shop_id=shop_id, now=now))
    if any(column.matched > COLUMN_CARD_LIMIT for column in columns.values()):
        ros = ros.annotate(
            place=Window(
                RowNumber(), partition_by=F("stage_id"), order_by=["scheduled_delivery", "repair_number"]
            )
        ).filter(place__lte=COLUMN_CARD_LIMIT)
    ros = list(ros) if any(column.matched for column in columns.values()) else []
    teams = board_teams(shop_id=shop_id, repair_order_ids=[ro.id for ro in ros]) if ros else {}
    for ro in ros:
        ro.team_members = teams.get(ro.id, [])
        columns[ro.stage_id].cards.append(ro)
    return Board(
        columns=list(columns.values()),
        total=counts.total,
        matched=counts.matched,
        overdue=counts.overdue,
        insurers=counts.insurers,
    )


def board_change_token(*, shop_id: int) -> str:
    return board_change_state(shop_id=shop_id)[0]


def board_change_state(*, shop_id: int) -> tuple[str, int]:
    """(token, board version) in one small query. The token is a short fingerprint of
    everything a board of this shop shows; the version is repairs.live's.

    Any RO write bumps updated_at (and a deletion the count); a person renamed
    or removed through the API or the admin changes the initials on ROs that
    were not touched, so the shop's people count too; the thresholds colour the badges. Integrations add their
    own parts (board_hooks). Time-dependent parts (days in stage, overdue) are
    the caller's business.
    """
    ros = RepairOrder.objects.filter(shop_id=OuterRef("pk")).order_by().values("shop_id")
    people = Person.objects.filter(shop_id=OuterRef("pk")).order_by().values("shop_id")
    version = BoardVersion.objects.filter(shop_id=OuterRef("pk")).values("version")
    annotations = {
        "board_version": Subquery(version, output_field=BigIntegerField()),
        "ro_count": Subquery(ros.annotate(n=Count("id")).values("n"), output_field=IntegerField()),
        "ro_last": Subquery(ros.annotate(m=Max("updated_at")).values("m")),
        "people_count": Subquery(people.annotate(n=Count("id")).values("n"), output_field=IntegerField()),
        "people_last": Subquery(people.annotate(m=Max("updated_at")).values("m")),
    }
    for name, expression in sorted(board_hooks.change_tokens().items()):
        annotations[f"hook_{name}"] = expression()
    row = (
        Shop.objects.filter(pk=shop_id)
        .annotate(**annotations)
        .values("name", "days_in_stage_amber", "days_in_stage_red", *annotations)
        .first()
    )
    token = hashlib.blake2b(repr(row).encode(), digest_size=12).hexdigest()
    return token, (row or {}).get("board_version") or 0


def repair_order_of_shop(*, shop_id: int, repair_order_id: int) -> RepairOrder:
    """One RO of the shop with its team, or RepairOrder.DoesNotExist (another shop's RO too)."""
    return (
        RepairOrder.objects.select_related("stage", "shop")
        .prefetch_related(_team_prefetch())
        .get(shop_id=shop_id, pk=repair_order_id)
    )


def stage_history(*, repair_order_id: int) -> QuerySet[StageChange]:
    return (
        StageChange.objects.filter(repair_order_id=repair_order_id)
        .select_related("from_stage", "to_stage", "changed_by")
        .order_by("-changed_at", "-id")
    )


def people_of_shop(*, shop_id: int) -> QuerySet[Person]:
    return Person.objects.filter(shop_id=shop_id).order_by("last_name", "first_name", "external_id")
