"""Plain input types and data checks of the batch writes (SPEC §3).

Callers (the batch API) validate the shape of a request and hand over these
dataclasses; the checks here are the ones that need the database: does the
shop exist (and may the caller touch it), is the RO number free (POST) or
known (PATCH), does a number appear twice in one request. They only report,
by position in the request, so the caller can merge them with its own
problems and answer once.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .models import RepairOrder, Shop

# RepairOrder fields a batch may set; everything else (stage, version, ...)
# belongs to the shop floor.
BATCH_FIELDS = frozenset(
    {
        "status",
        "scheduled_arrival",
        "scheduled_complete",
        "scheduled_delivery",
        "obs_event_id",
        "rental_car",
        "total_estimated_hours",
        "vehicle_year",
        "vehicle_make",
        "vehicle_model",
        "vehicle_color",
        "vehicle_vin",
        "vehicle_license_plate",
        "customer_first_name",
        "customer_last_name",
        "customer_email",
        "customer_phone_number",
        "insurance_name",
    }
)
PERSON_FIELDS = frozenset({"first_name", "last_name", "title"})


class BatchMode(StrEnum):
    CREATE = "create"
    UPDATE = "update"


@dataclass(frozen=True)
class TeamMemberInput:
    external_id: str
    # Only the person fields that were sent: omitted ones keep their value.
    fields: Mapping[str, str | None] = field(default_factory=dict)

    def __post_init__(self):
        if unknown := set(self.fields) - PERSON_FIELDS:
            raise ValueError(f"Not person fields: {sorted(unknown)}")


@dataclass(frozen=True)
class RepairOrderInput:
    repair_number: str
    # RepairOrder model fields to set; on update only these change.
    fields: Mapping[str, Any] = field(default_factory=dict)
    # None: the team was not sent (kept as is); a sequence replaces it.
    team: Sequence[TeamMemberInput] | None = None

    def __post_init__(self):
        if unknown := set(self.fields) - BATCH_FIELDS:
            raise ValueError(f"Not batch fields: {sorted(unknown)}")
        if self.team is not None:
            ids = [m.external_id for m in self.team]
            if len(ids) != len(set(ids)):
                raise ValueError(f"Team of RO {self.repair_number} names a person twice.")


@dataclass(frozen=True)
class ShopBatch:
    shop_id: int
    # None marks an RO the caller could not read at all: it keeps its
    # position (problems are reported by index) but is not checked.
    repair_orders: Sequence[RepairOrderInput | None]


@dataclass(frozen=True, slots=True)
class WrittenRepairOrder:
    """An RO a batch wrote: what the caller answers with, without loading the RO."""

    id: int
    shop_id: int
    repair_number: str
    stage_id: int


class ProblemCode(StrEnum):
    SHOP_NOT_FOUND = "shop_not_found"
    DUPLICATE_REPAIR_NUMBER = "duplicate_repair_number"
    REPAIR_ORDER_NOT_FOUND = "repair_order_not_found"


@dataclass(frozen=True)
class BatchProblem:
    code: ProblemCode
    shop_index: int
    ro_index: int | None  # None: the problem is the shop entry's shop_id
    detail: str

    @property
    def field(self) -> str:
        return "shop_id" if self.ro_index is None else "repair_number"


class BatchRejected(Exception):
    """The batch has data problems; nothing was written."""

    def __init__(self, problems: list[BatchProblem]):
        super().__init__(f"{len(problems)} problem(s) in the batch")
        self.problems = problems


def batch_problems(
    *,
    mode: BatchMode,
    shop_entries: Sequence[ShopBatch | None],
    shops_found: Collection[int],
    numbers_found: Collection[tuple[int, str]],
) -> list[BatchProblem]:
    """Every data problem of a batch, given what the database holds. Pure."""
    problems: list[BatchProblem] = []
    first_seen: dict[tuple[int, str], tuple[int, int]] = {}
    for shop_index, entry in enumerate(shop_entries):
        if entry is None:
            continue
        shop_known = entry.shop_id in shops_found
        if not shop_known:
            # Same words for a shop outside the caller's scope (SPEC §2).
            problems.append(
                BatchProblem(
                    ProblemCode.SHOP_NOT_FOUND, shop_index, None, f"Shop {entry.shop_id} does not exist."
                )
            )
        for ro_index, ro in enumerate(entry.repair_orders):
            if ro is None:
                continue
            key = (entry.shop_id, ro.repair_number)
            if key in first_seen:
                first_shop, first_ro = first_seen[key]
                problems.append(
                    BatchProblem(
                        ProblemCode.DUPLICATE_REPAIR_NUMBER,
                        shop_index,
                        ro_index,
                        f"RO {ro.repair_number} appears more than once for shop {entry.shop_id} in this request "
                        f"(first at /{first_shop}/repair_orders/{first_ro}).",
                    )
                )
                continue
            first_seen[key] = (shop_index, ro_index)
            if not shop_known:
                continue
            exists = key in numbers_found
            if mode is BatchMode.CREATE and exists:
                problems.append(
                    BatchProblem(
                        ProblemCode.DUPLICATE_REPAIR_NUMBER,
                        shop_index,
                        ro_index,
                        f"RO {ro.repair_number} already exists in shop {entry.shop_id}.",
                    )
                )
            elif mode is BatchMode.UPDATE and not exists:
                problems.append(
                    BatchProblem(
                        ProblemCode.REPAIR_ORDER_NOT_FOUND,
                        shop_index,
                        ro_index,
                        f"RO {ro.repair_number} does not exist in shop {entry.shop_id}.",
                    )
                )
    return problems


def requested_keys(shop_entries: Sequence[ShopBatch | None]) -> tuple[set[int], set[tuple[int, str]]]:
    shop_ids: set[int] = set()
    keys: set[tuple[int, str]] = set()
    for entry in shop_entries:
        if entry is None:
            continue
        shop_ids.add(entry.shop_id)
        keys.update((entry.shop_id, ro.repair_number) for ro in entry.repair_orders if ro is not None)
    return shop_ids, keys


def shops_found(*, shop_ids: Collection[int], shop_ids_allowed: Collection[int] | None) -> set[int]:
    """The requested shops that exist and that the caller may touch. One query."""
    wanted = set(shop_ids) if shop_ids_allowed is None else set(shop_ids) & set(shop_ids_allowed)
    if not wanted:
        return set()
    return set(Shop.objects.filter(pk__in=wanted).values_list("pk", flat=True))


def repair_orders_matching(*, keys: Collection[tuple[int, str]]):
    """ROs whose (shop_id, repair_number) is among keys, as one IN query.

    Filtering on both columns separately can return a few extra rows (the
    cross product); callers keep only exact pairs.
    """
    shop_ids = {shop_id for shop_id, _ in keys}
    numbers = {number for _, number in keys}
    return RepairOrder.objects.filter(shop_id__in=shop_ids, repair_number__in=numbers)


def batch_problems_find(
    *,
    mode: BatchMode,
    shop_entries: Sequence[ShopBatch | None],
    shop_ids_allowed: Collection[int] | None,
) -> list[BatchProblem]:
    """Data problems of a (possibly partly unreadable) batch, read without locks."""
    shop_ids, keys = requested_keys(shop_entries)
    found_shops = shops_found(shop_ids=shop_ids, shop_ids_allowed=shop_ids_allowed)
    keys = {k for k in keys if k[0] in found_shops}
    found_numbers = set()
    if keys:
        found_numbers = {
            k for k in repair_orders_matching(keys=keys).values_list("shop_id", "repair_number") if k in keys
        }
    return batch_problems(
        mode=mode, shop_entries=shop_entries, shops_found=found_shops, numbers_found=found_numbers
    )
