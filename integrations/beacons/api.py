"""POST /api/v1/beacon-events (SPEC §6).

The body is parsed here rather than by ninja so that schema problems and
data problems (a shop outside the key's scope) come back together in one
problem document, with JSON Pointers (SPEC §2), exactly as the batch API does.
"""

from typing import Annotated

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    TypeAdapter,
    ValidationError,
)

from integrations.api.auth import api_key_auth, key_shop_ids
from integrations.api.openapi import json_request_body
from integrations.api.parsing import error_item, read_json_body
from integrations.api.problems import ApiProblem, ErrorItem, json_pointer
from integrations.api.schemas import BODY_PROBLEMS

from .services import BeaconEvent, Outcome, beacon_event_apply

router = Router(tags=["Beacons"], auth=api_key_auth)

MAX_EVENTS = 1000


def _rfc3339_string(value):
    # JSON has no date type: only a string is an RFC 3339 date-time (pydantic
    # would otherwise read a number as a Unix time).
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string with an offset")
    return value


class BeaconEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shop_id: StrictInt
    beacon_id: Annotated[str, Field(min_length=1, max_length=100, strict=True)]
    zone_id: Annotated[str, Field(min_length=1, max_length=100, strict=True)]
    seen_at: Annotated[AwareDatetime, BeforeValidator(_rfc3339_string)]


_events_adapter = TypeAdapter(list[BeaconEventIn])


class BeaconOutcomeOut(Schema):
    outcome: Outcome
    repair_number: str | None = None
    stage_id: int | None = None


class BeaconEventsOut(Schema):
    count: int
    results: list[BeaconOutcomeOut]


def _shop_ids(body) -> list[tuple[int, int]]:
    """(index, shop_id) of every event that names a shop, whatever else is wrong with it."""
    return [
        (index, item["shop_id"])
        for index, item in enumerate(body)
        if isinstance(item, dict) and type(item.get("shop_id")) is int
    ]


@router.post(
    "/beacon-events",
    response={200: BeaconEventsOut, **BODY_PROBLEMS},
    summary="Report beacon reads",
    description=(
        "Each event moves the RO paired with the tag to the stage of the zone, unless a later change is "
        "already recorded for that RO. Events are independent: one outcome per event, in request order."
    ),
    openapi_extra=json_request_body(
        list[BeaconEventIn], "Beacon reads, each moving the RO paired with the tag."
    ),
)
def beacon_events(request: HttpRequest):
    body = read_json_body(request)
    if isinstance(body, list) and len(body) > MAX_EVENTS:
        raise ApiProblem(
            413, [ErrorItem("payload_too_large", f"At most {MAX_EVENTS} events per request.", pointer="")]
        )

    errors: list[ErrorItem] = []
    events: list[BeaconEventIn] = []
    if isinstance(body, list) and not body:
        errors.append(ErrorItem("validation_error", "Send at least one event.", pointer=""))
    else:
        try:
            events = _events_adapter.validate_python(body)
        except ValidationError as exc:
            errors.extend(error_item(e) for e in exc.errors(include_url=False, include_input=False))
    # A shop outside the key's scope reads exactly as one that does not exist.
    if isinstance(body, list):
        allowed = key_shop_ids(request)
        errors.extend(
            ErrorItem(
                "shop_not_found", f"Shop {shop_id} does not exist.", pointer=json_pointer(index, "shop_id")
            )
            for index, shop_id in _shop_ids(body)
            if shop_id not in allowed
        )
    if errors:
        errors.sort(key=lambda e: _pointer_sort_key(e.pointer or ""))
        count = len(errors)
        raise ApiProblem(
            422, errors, detail=f"{count} problem{'s' if count != 1 else ''}; nothing was applied."
        )

    results = []
    for event in events:
        outcome = beacon_event_apply(
            event=BeaconEvent(
                shop_id=event.shop_id, beacon_id=event.beacon_id, zone_id=event.zone_id, seen_at=event.seen_at
            )
        )
        ro = outcome.repair_order
        results.append(
            {
                "outcome": outcome.outcome,
                "repair_number": ro.repair_number if ro else None,
                "stage_id": ro.stage_id if ro else None,
            }
        )
    return {"count": len(results), "results": results}


def _pointer_sort_key(pointer: str) -> list:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in pointer.split("/")[1:]]
