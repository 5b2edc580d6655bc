"""From request bytes to validated batch input, collecting every problem.

The body is parsed here rather than by ninja so that an invalid body can name
line and column (400), a big one is refused before validation (413), and the
whole body is validated at once: every shape problem gets an RFC 6901 pointer,
and the readable parts are still handed on for the data checks, so schema and
data problems come back together in one answer.
"""

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from django.conf import settings
from django.http import HttpRequest
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from repairs.batch import BatchMode, RepairOrderInput, ShopBatch, TeamMemberInput
from repairs.batch.fields import GROUPS, columns_sent

from .problems import ApiProblem, ErrorItem, json_pointer
from .schemas import (
    STRICT_INPUT,
    RepairNumber,
    RepairOrderBaseIn,
    RepairOrderCreateIn,
    RepairOrderUpdateIn,
    ShopId,
)

# --- Body --------------------------------------------------------------------


class _NotJsonConstant(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotJsonConstant(name)


# Python's json accepts NaN and Infinity, JSON does not. Strings are matched
# first so a "NaN" inside a string is skipped.
_CONSTANT_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)')


def _line_column(text: str, position: int) -> tuple[int, int]:
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def _invalid_json(detail: str) -> ApiProblem:
    return ApiProblem(400, [ErrorItem("invalid_json", detail, pointer="")])


def _too_large(detail: str) -> ApiProblem:
    return ApiProblem(413, [ErrorItem("payload_too_large", detail, pointer="")])


def read_json_body(request: HttpRequest) -> Any:
    """The request body as JSON; numbers with a fraction come as Decimal."""
    limit = settings.API_MAX_BODY_BYTES
    too_large = _too_large(f"The body is over {limit} bytes.")
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        raise too_large  # refused before reading it
    body = request.body
    if len(body) > limit:
        raise too_large
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid_json(f"The body is not UTF-8 (byte {exc.start + 1}).") from None
    text = text.removeprefix("\ufeff")
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _invalid_json(f"Invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.") from None
    except _NotJsonConstant:
        match = next(m for m in _CONSTANT_TOKEN.finditer(text) if m.group(1))
        line, column = _line_column(text, match.start(1))
        raise _invalid_json(
            f"Invalid JSON at line {line}, column {column}: {match.group(1)} is not a JSON value."
        ) from None
    except RecursionError:
        raise _invalid_json("Invalid JSON: nested too deeply.") from None


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
        raise _too_large(f"{count} repair orders in one request; the limit is {limit}.")


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
    __dict__ and model_fields_set, as model_dump costs several times as much (docs/bench.md)."""
    values = model.__dict__
    return {name: values[name] for name in model.model_fields_set if name != but}


def _to_domain(ro: RepairOrderBaseIn) -> RepairOrderInput:
    """Domain input of one RO: only what was sent (repairs.batch.fields.columns_sent
    applies the merge rule; POST fills in the columns' defaults). Runs for every RO."""
    values = ro.__dict__
    sent: dict[str, Any] = {}
    team = None
    for name in ro.model_fields_set:
        value = values[name]
        if name == "repair_team":
            # A person's fields left out keep their stored value, in POST too (repairs.people).
            team = [TeamMemberInput(member.id, _sent(member, but="id")) for member in value or ()]
        elif name in GROUPS and value is not None:
            sent[name] = _sent(value)
        elif name != "repair_number":
            sent[name] = value
    return RepairOrderInput(ro.repair_number, columns_sent(sent), team)
