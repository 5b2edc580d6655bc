"""From request bytes to validated batch input, collecting every problem.

The body is read by body.read_json_body rather than by ninja so that an
invalid body can name line and column (400), a big one is refused before
validation (413), and the whole body is validated at once: every shape
problem gets an RFC 6901 pointer, and the readable parts are still handed on
for the data checks, so schema and data problems come back together in one
answer.
"""

from dataclasses import dataclass
from typing import Annotated, Any

from django.conf import settings
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from repairs.batch import BatchMode, RepairOrderInput, ShopBatch, TeamMemberInput
from repairs.batch.fields import GROUPS, columns_sent

from .body import too_large
from .problems import ErrorItem, json_pointer
from .schemas import (
    STRICT_INPUT,
    RepairNumber,
    RepairOrderBaseIn,
    RepairOrderCreateIn,
    RepairOrderUpdateIn,
    ShopId,
)

# --- Body --------------------------------------------------------------------
# Read as JSON by body.read_json_body (shared with the beacon events).


def count_repair_orders(body: Any) -> int:
    if not isinstance(body, list):
        return 0
    return sum(
        len(entry["repair_orders"])
        for entry in body
        if isinstance(entry, dict) and isinstance(entry.get("repair_orders"), list)
    )


def check_repair_order_count(body: Any) -> None:
    limit = settings.API_MAX_REPAIR_ORDERS
    if (count := count_repair_orders(body)) > limit:
        raise too_large(f"{count} repair orders in one request; the limit is {limit}.")


# --- Validation ----------------------------------------------------------------


class _ShopEntryShape(BaseModel):
    """A shop entry of either batch, its ROs left to _REPAIR_ORDER (ShopEntryCreateIn's and
    ShopEntryUpdateIn's fields, in the same order, so the problems come out alike)."""

    model_config = STRICT_INPUT
    shop_id: ShopId
    repair_orders: Annotated[list[Any], Field(min_length=1)]


# The body's own shape: BatchCreateIn and BatchUpdateIn are a non-empty list of shop entries.
_BODY = TypeAdapter(Annotated[list[Any], Field(min_length=1)])
_SHOP_ENTRY = TypeAdapter(_ShopEntryShape)
_REPAIR_ORDER = {
    BatchMode.CREATE: TypeAdapter(RepairOrderCreateIn),
    BatchMode.UPDATE: TypeAdapter(RepairOrderUpdateIn),
}
_SHOP_ID = TypeAdapter(ShopId)
_REPAIR_NUMBER = TypeAdapter(RepairNumber)

# Clearer words than pydantic's for the commonest problems.
_MESSAGES = {
    "missing": "This field is required.",
    "too_short": "Must not be empty.",
    "model_type": "Must be an object.",
    "list_type": "Must be an array.",
    "string_type": "Must be a string.",
    "int_type": "Must be an integer.",
    "bool_type": "Must be true or false.",
}


@dataclass(frozen=True)
class ParsedBatch:
    errors: list[ErrorItem]
    # Request-shaped: one item per shop entry, None where unreadable.
    shop_entries: list[ShopBatch | None]


def error_item(error: dict) -> ErrorItem:
    """One pydantic error as a problem-document item with a JSON Pointer."""
    loc = error["loc"]
    if error["type"] == "extra_forbidden":
        return ErrorItem("unknown_field", f"Unknown field '{loc[-1]}'.", pointer=json_pointer(*loc))
    detail = _MESSAGES.get(error["type"], error["msg"])
    if not detail.endswith("."):
        detail += "."
    return ErrorItem("validation_error", detail, pointer=json_pointer(*loc))


def _error_items(exc: ValidationError, prefix: tuple = ()) -> list[ErrorItem]:
    return [
        error_item({**e, "loc": (*prefix, *e["loc"])})
        for e in exc.errors(include_url=False, include_input=False)
    ]


def validate_batch(body: Any, *, mode: BatchMode) -> ParsedBatch:
    """Every shape problem of the body, and its readable parts as domain input.

    Validated RO by RO, each RO's model turned into domain input at once and
    dropped: a 1,000-RO batch never holds 1,000 pydantic models besides the
    parsed JSON and the domain input (peak memory: docs/bench.md). The
    problems are those of validating the whole body against BatchCreateIn /
    BatchUpdateIn, with the same pointers.
    """
    try:
        _BODY.validate_python(body)
    except ValidationError as exc:
        return ParsedBatch(_error_items(exc), [])
    errors: list[ErrorItem] = []
    entries: list[ShopBatch | None] = []
    for shop_index, raw_entry in enumerate(body):
        try:
            shape = _SHOP_ENTRY.validate_python(raw_entry)
            shop_id, raw_ros = shape.shop_id, shape.repair_orders
        except ValidationError as exc:
            errors += _error_items(exc, (shop_index,))
            # What can still be read, for the data checks.
            shop_id = _valid(_SHOP_ID, raw_entry.get("shop_id")) if isinstance(raw_entry, dict) else None
            raw_ros = raw_entry.get("repair_orders") if isinstance(raw_entry, dict) else None
            raw_ros = raw_ros if isinstance(raw_ros, list) else None
        ros: list[RepairOrderInput | None] = []
        for ro_index, raw in enumerate(raw_ros or ()):
            try:
                ros.append(_to_domain(_REPAIR_ORDER[mode].validate_python(raw)))
            except ValidationError as exc:
                errors += _error_items(exc, (shop_index, "repair_orders", ro_index))
                number = _valid(_REPAIR_NUMBER, raw.get("repair_number")) if isinstance(raw, dict) else None
                # Enough to check the number; the RO itself is never written.
                ros.append(RepairOrderInput(number) if number is not None else None)
        entries.append(ShopBatch(shop_id, ros) if shop_id is not None and raw_ros is not None else None)
    return ParsedBatch(errors, entries)


def _valid(adapter: TypeAdapter, value: Any) -> Any | None:
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


def _sent(model: BaseModel, *, but: str = "") -> dict[str, Any]:
    """The fields a request carried, by name (`but` left out): read from the model's
    __dict__ and fields set (model_fields_set, without its property call), as model_dump
    costs several times as much (docs/bench.md)."""
    values = model.__dict__
    return {name: values[name] for name in model.__pydantic_fields_set__ if name != but}


def _to_domain(ro: RepairOrderBaseIn) -> RepairOrderInput:
    """Domain input of one RO: only what was sent (repairs.batch.fields.columns_sent
    applies the merge rule; POST fills in the columns' defaults). Runs for every RO."""
    values = ro.__dict__
    sent: dict[str, Any] = {}
    team = None
    for name in ro.__pydantic_fields_set__:
        value = values[name]
        if name == "repair_team":
            # A person's fields left out keep their stored value, in POST too (repairs.people).
            team = [TeamMemberInput(member.id, _sent(member, but="id")) for member in value or ()]
        elif name in GROUPS and value is not None:
            sent[name] = _sent(value)
        elif name != "repair_number":
            sent[name] = value
    return RepairOrderInput(ro.repair_number, columns_sent(sent), team)
