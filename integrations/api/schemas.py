"""Request and response schemas of the batch and read API (SPEC §3, §4).

Input models forbid unknown fields (a field we do not know would otherwise be
lost silently) and use strict types: JSON `"2000"` is not a year and `true` is
not a string. Output models only shape and document what we send.
"""

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import DomainNameValidator, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from repairs.identifiers import identifier_problem

# --- Field types -------------------------------------------------------------

# Patterns are matched with fullmatch: `$` would also match before a final "\n".
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def parse_rfc3339(value: Any) -> datetime:
    """An RFC 3339 date-time with an offset, as an aware datetime in UTC."""
    if not isinstance(value, str):
        raise PydanticCustomError("datetime_type", "Must be a date-time string like 2020-03-11T00:00:00Z.")
    if not _RFC3339.fullmatch(value):
        raise PydanticCustomError(
            "datetime_format",
            "Must be an RFC 3339 date-time with seconds and an offset (Z or ±hh:mm), like 2020-03-11T00:00:00Z.",
        )
    try:
        if value[10] == "T" and value[-1] == "Z":  # the common form, read as it is
            return datetime.fromisoformat(value)  # tzinfo is UTC already
        return datetime.fromisoformat(f"{value[:10]}T{value[11:]}".upper()).astimezone(UTC)
    except (ValueError, OverflowError):  # 2020-02-30, or 0001-01-01 +01:00 (before year 1 in UTC)
        raise PydanticCustomError(
            "datetime_range", "Not a real date-time (years 1 to 9999 in UTC)."
        ) from None


Rfc3339 = Annotated[datetime, BeforeValidator(parse_rfc3339)]


def _number(value: Any) -> Decimal:
    # The body is parsed with parse_float=Decimal, so JSON numbers arrive as
    # int or Decimal; strings and booleans are not numbers.
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise PydanticCustomError("decimal_type", "Must be a number.")
    decimal = Decimal(value)
    if not decimal.is_finite():
        raise PydanticCustomError("decimal_type", "Must be a finite number.")
    return decimal


Hours = Annotated[
    Decimal,
    # The constraints before the validator: pydantic-core checks them natively (docs/bench.md).
    Field(ge=0, max_digits=9, decimal_places=2),
    BeforeValidator(_number),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 9999999.99}),
]


# The addresses Django's validate_email takes by its commonest path, matched at once: a
# dot-atom local part (its user_regex's first form), one "@", a domain its domain_regex
# takes (built from the same DomainNameValidator parts). Neither part can hold an "@", so
# a match is exactly what the validator accepts that way; anything else (quoted local
# parts, address literals, `localhost`, and every address to refuse) goes to the validator
# itself. ~1 µs instead of ~3.5 per address (docs/bench.md);
# tests/api/test_input_edges.py holds the two to the same answers.
_EMAIL_COMMON = re.compile(
    r"[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(?:\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*@"
    + DomainNameValidator.hostname_re
    + DomainNameValidator.domain_re
    + DomainNameValidator.tld_no_fqdn_re,
    re.IGNORECASE,
)


def _email(value: str) -> str:
    if len(value) <= 320 and _EMAIL_COMMON.fullmatch(value):
        return value
    try:
        validate_email(value)
    except DjangoValidationError:
        raise PydanticCustomError("email", "Not a valid email address.") from None
    return value


_VIN = re.compile(r"[A-HJ-NPR-Za-hj-npr-z0-9]{17}")
VIN_PATTERN = f"^{_VIN.pattern}$"  # for the OpenAPI document (ECMA-262: `$` is the very end)


def _vin(value: str) -> str:
    if not _VIN.fullmatch(value):
        raise PydanticCustomError("vin", "A VIN is 17 letters and digits, without I, O or Q.")
    return value


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refused here rather than failing as a 500.
    if "\x00" in value:
        raise PydanticCustomError("string_nul", "Must not contain NUL (\\u0000) characters.")
    return value


NoNul = AfterValidator(_no_nul)


def Text(max_length: int, min_length: int = 0):  # reads like a type, hence the capital
    return Annotated[StrictStr, Field(min_length=min_length, max_length=max_length), NoNul]


def _identifier(value: str) -> str:
    if (problem := identifier_problem(value)) is not None:
        raise PydanticCustomError("identifier", problem)
    return value


# RO numbers, member ids, beacon and zone ids (repairs/identifiers.py: no
# invisible characters, not blank, no outer spaces).
IsIdentifier = AfterValidator(_identifier)

RepairNumber = Annotated[
    StrictStr, Field(min_length=1, max_length=50, description="Unique within its shop."), IsIdentifier
]
# Shop ids are PostgreSQL integers.
ShopId = Annotated[StrictInt, Field(ge=1, le=2_147_483_647)]
Email = Annotated[
    StrictStr,
    Field(max_length=254),
    NoNul,
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254}),
]
Vin = Annotated[
    StrictStr,
    AfterValidator(_vin),
    WithJsonSchema({"type": "string", "pattern": VIN_PATTERN, "minLength": 17, "maxLength": 17}),
]

# --- Batch input -------------------------------------------------------------

STRICT_INPUT = ConfigDict(extra="forbid")


class VehicleIn(BaseModel):
    model_config = STRICT_INPUT
    year: Annotated[StrictInt, Field(ge=1900, le=2100)] | None = None
    make: Text(100) | None = None
    model: Text(100) | None = None
    color: Text(100) | None = None
    vin: Vin | None = None
    license_plate: Text(20) | None = None


class CustomerIn(BaseModel):
    model_config = STRICT_INPUT
    first_name: Text(100) | None = None
    last_name: Text(100) | None = None
    email: Email | None = None
    phone_number: Text(50) | None = None


class InsuranceIn(BaseModel):
    model_config = STRICT_INPUT
    name: Text(200) | None = None


class TeamMemberIn(BaseModel):
    model_config = STRICT_INPUT
    id: Annotated[
        StrictStr,
        Field(min_length=1, max_length=50, description="The source system's employee id."),
        IsIdentifier,
    ]
    first_name: Text(100) | None = None
    last_name: Text(100) | None = None
    title: Text(100) | None = None


class RepairOrderBaseIn(BaseModel):
    model_config = STRICT_INPUT
    repair_number: RepairNumber
    scheduled_arrival: Rfc3339 | None = None
    scheduled_complete: Rfc3339 | None = None
    scheduled_delivery: Rfc3339 | None = None
    obs_event_id: Text(100) | None = None
    rental_car: StrictBool | None = None
    total_estimated_hours: Hours | None = None
    vehicle: VehicleIn | None = None
    customer: CustomerIn | None = None
    insurance: InsuranceIn | None = None
    repair_team: list[TeamMemberIn] | None = None

    @field_validator("repair_team")
    @classmethod
    def _members_once(cls, team: list[TeamMemberIn] | None) -> list[TeamMemberIn] | None:
        seen: set[str] = set()
        for member in team or ():
            if member.id in seen:
                raise PydanticCustomError(
                    "duplicate_member", "Team member id {id} appears more than once.", {"id": member.id}
                )
            seen.add(member.id)
        return team


class RepairOrderCreateIn(RepairOrderBaseIn):
    """An RO to create: every field but repair_number is optional."""

    status: Text(30) = "Active"


class RepairOrderUpdateIn(RepairOrderBaseIn):
    """An RO to change: repair_number and only the fields to change.

    Nested objects merge field by field, `null` clears a field, a sent
    `repair_team` replaces the whole team (`[]` or `null` clears it).
    """

    status: Text(30) = Field(None, description="Cannot be cleared.")


class ShopEntryCreateIn(BaseModel):
    model_config = STRICT_INPUT
    shop_id: ShopId
    repair_orders: Annotated[list[RepairOrderCreateIn], Field(min_length=1)]


class ShopEntryUpdateIn(BaseModel):
    model_config = STRICT_INPUT
    shop_id: ShopId
    repair_orders: Annotated[list[RepairOrderUpdateIn], Field(min_length=1)]


BatchCreateIn = Annotated[list[ShopEntryCreateIn], Field(min_length=1)]
BatchUpdateIn = Annotated[list[ShopEntryUpdateIn], Field(min_length=1)]

# --- Output ------------------------------------------------------------------


def _utc_text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json_number(value: Decimal) -> int | float:
    # 48.00 goes out as 48, 12.50 as 12.5: a JSON number like the one sent.
    return int(value) if value == value.to_integral_value() else float(value)


UtcDatetime = Annotated[datetime, PlainSerializer(_utc_text, return_type=str)]
JsonNumber = Annotated[
    Decimal, PlainSerializer(_json_number, return_type=int | float), WithJsonSchema({"type": "number"})
]


# Read back, every field is present (SPEC §4): a field never set or cleared is
# null, an object with nothing set has each of its fields null, an empty team
# is []. So the fields below have no defaults: the OpenAPI document lists them
# all as required (and nullable), one shape for typed clients.


class VehicleOut(BaseModel):
    year: int | None
    make: str | None
    model: str | None
    color: str | None
    vin: str | None
    license_plate: str | None


class CustomerOut(BaseModel):
    first_name: str | None
    last_name: str | None
    email: str | None
    phone_number: str | None


class InsuranceOut(BaseModel):
    name: str | None


class TeamMemberOut(BaseModel):
    id: str
    first_name: str | None
    last_name: str | None
    title: str | None


class RepairOrderOut(BaseModel):
    """An RO as stored, every batch field included (null when not set)."""

    shop_id: int
    repair_number: str
    scheduled_arrival: UtcDatetime | None
    scheduled_complete: UtcDatetime | None
    scheduled_delivery: UtcDatetime | None
    obs_event_id: str | None
    rental_car: bool | None
    total_estimated_hours: JsonNumber | None
    status: str
    vehicle: VehicleOut
    customer: CustomerOut
    insurance: InsuranceOut
    repair_team: list[TeamMemberOut]
    stage_id: int
    stage_name: str
    stage_entered_at: UtcDatetime
    created_at: UtcDatetime
    updated_at: UtcDatetime
    version: int


class RepairOrderPageOut(BaseModel):
    items: list[RepairOrderOut]
    next_cursor: str | None = Field(
        description="Pass back as `cursor` for the next page; null on the last page."
    )


class BatchItemOut(BaseModel):
    shop_id: int
    repair_number: str
    stage_id: int


class BatchOut(BaseModel):
    count: int
    repair_orders: list[BatchItemOut] = Field(description="In request order.")


class StageOut(BaseModel):
    id: int
    name: str
    position: int


class ShopOut(BaseModel):
    id: int
    name: str


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="degraded: the cache or the broker does not answer."
    )
    database: Literal["ok"]
    cache: Literal["ok", "unavailable"] = Field(
        description="Redis; while unavailable, rate limits count per process."
    )
    broker: Literal["ok", "unavailable", "not_checked"] = Field(
        description="The Celery broker; while unavailable, notifications wait in the outbox."
    )


class ProblemErrorOut(BaseModel):
    code: str = Field(description="Machine-readable: validation_error, unknown_field, shop_not_found, ...")
    pointer: str | None = Field(
        description="RFC 6901 JSON Pointer into the request body; null when the problem is not in the body."
    )
    parameter: str | None = Field(None, description="The query or path parameter at fault, if any.")
    detail: str


class ProblemOut(BaseModel):
    """RFC 9457 problem document, sent as application/problem+json."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    request_id: str
    errors: list[ProblemErrorOut]


# What the OpenAPI document lists beside an endpoint's success: the problems
# any endpoint behind a key can answer, and those of one that reads a JSON body.
KEYED_PROBLEMS = {401: ProblemOut, 429: ProblemOut, 500: ProblemOut}
# 411 and 415: integrations/api/body.py.
BODY_PROBLEMS = {
    400: ProblemOut, 411: ProblemOut, 413: ProblemOut, 415: ProblemOut, 422: ProblemOut, **KEYED_PROBLEMS,
}  # fmt: skip
