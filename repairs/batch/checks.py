"""The batch's data checks (SPEC §2-§3): the ones that need the database.

Does the shop exist (and may the caller touch it), is the RO number free
(POST) or known (PATCH), does a number appear twice in one request. They only
report, by position in the request, so the API edge can merge them with the
shape problems it found and answer every problem at once.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ..models import RepairOrder, Shop
from .inputs import BatchMode, ShopBatch


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


def batch_targets(
    *, shop_entries: Sequence[ShopBatch | None], shop_ids_allowed: Collection[int] | None
) -> tuple[set[int], set[tuple[int, str]]]:
    """The requested shops that exist and that the caller may touch (one query),
    and the (shop_id, repair_number) of the ROs named for them."""
    shop_ids: set[int] = set()
    keys: set[tuple[int, str]] = set()
    for entry in shop_entries:
        if entry is None:
            continue
        shop_ids.add(entry.shop_id)
        keys.update((entry.shop_id, ro.repair_number) for ro in entry.repair_orders if ro is not None)
    wanted = shop_ids if shop_ids_allowed is None else shop_ids & set(shop_ids_allowed)
    found = set(Shop.objects.filter(pk__in=wanted).values_list("pk", flat=True)) if wanted else set()
    return found, {k for k in keys if k[0] in found}


def repair_orders_matching(*, keys: Collection[tuple[int, str]]):
    """ROs whose (shop_id, repair_number) is among keys, as one IN query.

    Filtering on both columns separately can return a few extra rows (the
    cross product); callers keep only exact pairs.
    """
    shop_ids = {shop_id for shop_id, _ in keys}
    numbers = {number for _, number in keys}
    return RepairOrder.objects.filter(shop_id__in=shop_ids, repair_number__in=numbers)


def numbers_taken(*, keys: Collection[tuple[int, str]]) -> set[tuple[int, str]]:
    """The (shop_id, repair_number) of `keys` that exist. One query, no lock."""
    if not keys:
        return set()
    return {k for k in repair_orders_matching(keys=keys).values_list("shop_id", "repair_number") if k in keys}


def batch_problems_find(
    *,
    mode: BatchMode,
    shop_entries: Sequence[ShopBatch | None],
    shop_ids_allowed: Collection[int] | None,
) -> list[BatchProblem]:
    """Data problems of a (possibly partly unreadable) batch, read without locks."""
    found_shops, keys = batch_targets(shop_entries=shop_entries, shop_ids_allowed=shop_ids_allowed)
    return batch_problems(
        mode=mode, shop_entries=shop_entries, shops_found=found_shops, numbers_found=numbers_taken(keys=keys)
    )
