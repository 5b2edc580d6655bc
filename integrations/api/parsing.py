"""From request bytes to validated batch input, collecting every problem.

The body is parsed here rather than by ninja so that an invalid body can name
line and column (400), a big one is refused before validation (413), and the
whole body is validated at once: every shape problem gets an RFC 6901 pointer,
and the readable parts are still handed on for the data checks, so schema and
data problems come back together in one answer.
"""

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from pydantic import BaseModel, TypeAdapter, ValidationError

from repairs.batch import BatchMode, RepairOrderInput, ShopBatch, TeamMemberInput

from .problems import ApiProblem, ErrorItem, json_pointer
from .schemas import (
    BatchCreateIn,
    BatchUpdateIn,
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
        raise _invalid_json(f"Invalid JSON at line {line}, column {column}: {match.group(1)} is not a JSON value.")
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

_BATCH = {BatchMode.CREATE: TypeAdapter(BatchCreateIn), BatchMode.UPDATE: TypeAdapter(BatchUpdateIn)}
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


def validate_batch(body: Any, *, mode: BatchMode) -> ParsedBatch:
    try:
        entries = _BATCH[mode].validate_python(body)
    except ValidationError as exc:
        errors = [error_item(e) for e in exc.errors(include_url=False, include_input=False)]
        return ParsedBatch(errors, _salvage(body, mode))
    return ParsedBatch([], [
        ShopBatch(entry.shop_id, [_to_domain(ro, mode) for ro in entry.repair_orders]) for entry in entries
    ])


def _valid(adapter: TypeAdapter, value: Any) -> Any | None:
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


def _salvage(body: Any, mode: BatchMode) -> list[ShopBatch | None]:
    """The readable parts of an invalid body, for the data checks."""
    entries: list[ShopBatch | None] = []
    for entry in body if isinstance(body, list) else ():
        shop_id = _valid(_SHOP_ID, entry.get("shop_id")) if isinstance(entry, dict) else None
        raw_ros = entry.get("repair_orders") if isinstance(entry, dict) else None
        if shop_id is None or not isinstance(raw_ros, list):
            entries.append(None)
            continue
        ros: list[RepairOrderInput | None] = []
        for raw in raw_ros:
            ro = _valid(_REPAIR_ORDER[mode], raw)
            if ro is not None:
                ros.append(_to_domain(ro, mode))
                continue
            number = _valid(_REPAIR_NUMBER, raw.get("repair_number")) if isinstance(raw, dict) else None
            # Enough to check the number; the RO itself is never written.
            ros.append(RepairOrderInput(number) if number is not None else None)
        entries.append(ShopBatch(shop_id, ros))
    return entries


_TOP_FIELDS = (
    "status", "scheduled_arrival", "scheduled_complete", "scheduled_delivery",
    "obs_event_id", "rental_car", "total_estimated_hours",
)
# Nested objects are stored flat: vehicle.year -> vehicle_year.
_GROUPS = {
    "vehicle": ("year", "make", "model", "color", "vin", "license_plate"),
    "customer": ("first_name", "last_name", "email", "phone_number"),
    "insurance": ("name",),
}
_PERSON_FIELDS = ("first_name", "last_name", "title")


@functools.cache
def _all_fields(model_class: type[BaseModel]) -> frozenset[str]:
    # Cached: pydantic builds model_fields anew on every access (profiled: a
    # third of a 1,000-RO batch's conversion time).
    return frozenset(model_class.model_fields)


def _to_domain(ro: RepairOrderBaseIn, mode: BatchMode) -> RepairOrderInput:
    # POST writes every field (defaults included); PATCH only what was sent.
    # Values are read from the models' __dict__: this runs for every RO of a
    # batch, and attribute access through pydantic is several times slower.
    create = mode is BatchMode.CREATE
    values = ro.__dict__
    ro_sent = _all_fields(type(ro)) if create else ro.model_fields_set
    fields: dict[str, Any] = {name: values[name] for name in _TOP_FIELDS if name in ro_sent}
    for group, names in _GROUPS.items():
        if group not in ro_sent:
            continue
        nested = values[group]
        if nested is None:
            fields.update((f"{group}_{name}", None) for name in names)
            continue
        nested_values = nested.__dict__
        nested_sent = _all_fields(type(nested)) if create else nested.model_fields_set
        fields.update((f"{group}_{name}", nested_values[name]) for name in names if name in nested_sent)
    team = None
    if "repair_team" in ro_sent:
        team = [
            # A person's omitted fields keep their stored value, in POST too.
            TeamMemberInput(m.id, {n: m.__dict__[n] for n in _PERSON_FIELDS if n in m.model_fields_set})
            for m in values["repair_team"] or ()
        ]
    return RepairOrderInput(ro.repair_number, fields, team)
