"""Read API (SPEC §4): stages, the key's shops, a shop's ROs, one RO."""

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import register_converter
from ninja import Query, Router
from pydantic import BaseModel, ConfigDict, Field

from repairs.selectors import (
    SEARCH_MAX_LENGTH,
    repair_order_by_number,
    repair_order_page,
    shop_list,
    stage_list,
)

from .auth import api_key_auth, key_shop_ids
from .problems import ApiProblem, ErrorItem
from .render import json_response, repair_order_json
from .schemas import (
    KEYED_PROBLEMS,
    NoNul,
    ProblemOut,
    RepairOrderOut,
    RepairOrderPageOut,
    Rfc3339,
    ShopOut,
    StageOut,
)

router = Router(tags=["Read"], auth=api_key_auth)


class AnyTextConverter:
    """Any non-empty text, '/' and newlines included: an RO number is free text."""

    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(AnyTextConverter, "anytext")


@router.get("/stages", response={200: list[StageOut], **KEYED_PROBLEMS}, summary="List stages")
def stages_get(request: HttpRequest) -> HttpResponse:
    """The 15 stages in board order (position)."""
    return json_response([{"id": s.id, "name": s.name, "position": s.position} for s in stage_list()])


@router.get("/shops", response={200: list[ShopOut], **KEYED_PROBLEMS}, summary="List shops")
def shops_get(request: HttpRequest) -> HttpResponse:
    """The shops this API key reaches."""
    return json_response([{"id": s.id, "name": s.name} for s in shop_list(shop_ids=key_shop_ids(request))])


class RepairOrderFilters(BaseModel):
    model_config = ConfigDict(extra="ignore")
    stage_id: int | None = None
    status: Annotated[str, Field(max_length=30), NoNul] | None = Field(None, description="Case-insensitive.")
    updated_since: Rfc3339 | None = Field(
        None, description="RFC 3339 with offset; ROs updated at or after it."
    )
    limit: int = Field(50, ge=1, le=200)
    cursor: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="next_cursor of the previous page."
    )
    q: Annotated[str, Field(max_length=SEARCH_MAX_LENGTH), NoNul] | None = Field(
        None,
        description="Search, case-insensitive, every word: RO number, customer name, email, phone, vehicle "
        "make/model/VIN/licence plate, insurer, team member names (the board's search).",
    )


@router.get(
    "/shops/{shop_id}/repair-orders",
    response={200: RepairOrderPageOut, 404: ProblemOut, 422: ProblemOut, **KEYED_PROBLEMS},
    summary="List a shop's repair orders",
)
def shop_repair_orders_get(
    request: HttpRequest, shop_id: int, filters: Query[RepairOrderFilters]
) -> HttpResponse:
    """Oldest change first ((updated_at, id) keyset): page with `next_cursor` until it is null.

    Stable under concurrent writes: new ROs come after your position, and an
    RO changed while you page is listed again later with its new data.
    """
    shop_require(request, shop_id)
    rows = list(
        repair_order_page(
            shop_id=shop_id,
            limit=filters.limit + 1,
            after=_cursor_decode(filters.cursor) if filters.cursor else None,
            stage_id=filters.stage_id,
            status=filters.status,
            updated_since=filters.updated_since,
            q=filters.q,
        )
    )
    page = rows[: filters.limit]
    next_cursor = _cursor_encode(page[-1].updated_at, page[-1].id) if len(rows) > filters.limit else None
    return json_response({"items": [repair_order_json(ro) for ro in page], "next_cursor": next_cursor})


@router.get(
    "/shops/{shop_id}/repair-orders/{anytext:repair_number}",
    response={200: RepairOrderOut, 404: ProblemOut, 422: ProblemOut, **KEYED_PROBLEMS},
    summary="Get a repair order",
)
def shop_repair_order_get(request: HttpRequest, shop_id: int, repair_number: str) -> HttpResponse:
    shop_require(request, shop_id)
    ro = repair_order_require(repair_order_by_number, shop_id=shop_id, repair_number=repair_number)
    return json_response(repair_order_json(ro))


def repair_order_require(by_number: Callable[..., QuerySet], *, shop_id: int, repair_number: str):
    """The first row of `by_number(shop_id=, repair_number=)`, or the 404 problem of a missing RO."""
    # NUL cannot be stored, so no RO has it (and PostgreSQL refuses to compare it).
    found = (
        None if "\x00" in repair_number else by_number(shop_id=shop_id, repair_number=repair_number).first()
    )
    if found is None:
        raise ApiProblem(
            404,
            [
                ErrorItem(
                    "repair_order_not_found",
                    f"RO {repair_number} does not exist in shop {shop_id}.",
                    parameter="repair_number",
                )
            ],
        )
    return found


def shop_require(request: HttpRequest, shop_id: int) -> None:
    # A shop outside the key's scope reads exactly like one that does not exist.
    if shop_id not in key_shop_ids(request):
        raise ApiProblem(
            404, [ErrorItem("shop_not_found", f"Shop {shop_id} does not exist.", parameter="shop_id")]
        )


def _cursor_encode(updated_at: datetime, id: int) -> str:
    return base64.urlsafe_b64encode(f"{updated_at.isoformat()}|{id}".encode()).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        updated_at, _, id = text.partition("|")
        position = datetime.fromisoformat(updated_at), int(id)
        if position[0].tzinfo is None or not 0 <= position[1] < 2**63:
            raise ValueError("not one of ours")
        return position
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiProblem(
            422,
            [
                ErrorItem(
                    "validation_error",
                    "Not a cursor from this API; pass next_cursor back as is.",
                    parameter="cursor",
                )
            ],
        ) from None
