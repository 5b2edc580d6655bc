"""POST /api/v1/beacon-events (SPEC §6).

The body is parsed here rather than by ninja so that schema problems and
data problems (a shop outside the key's scope) come back together in one
problem document, with JSON Pointers (SPEC §2).

Swap-later note: `_authenticate` and `_problem` are a minimal stand-in for
the shared API-key auth and problem-document helpers of integrations/api;
when merged, the router should use those instead.
"""

import json
from typing import Annotated, Literal

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
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

from shopboard.middleware import current_request_id

from ..models import ApiKey, hash_api_key
from .services import BeaconEvent, beacon_event_apply

router = Router(tags=["beacons"])

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
    outcome: Literal["moved", "unchanged", "stale", "unknown_beacon", "unknown_zone"]
    repair_number: str | None = None
    stage_id: int | None = None


class BeaconEventsOut(Schema):
    count: int
    results: list[BeaconOutcomeOut]


def _problem(status: int, title: str, detail: str, errors: list[dict]) -> HttpResponse:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": current_request_id(),
        "errors": errors,
    }
    return HttpResponse(json.dumps(body), status=status, content_type="application/problem+json")


def _authenticate(request: HttpRequest) -> ApiKey | None:
    raw = request.headers.get("X-API-Key", "")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        raw = token.strip()
    if not raw:
        return None
    key = ApiKey.objects.filter(hashed_key=hash_api_key(raw), revoked_at__isnull=True).first()
    if key is not None:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key


def _pointer(location: tuple) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in location)


def _schema_errors(exc: ValidationError) -> list[dict]:
    errors = []
    for error in exc.errors(include_url=False):
        code = "unknown_field" if error["type"] == "extra_forbidden" else "validation_error"
        detail = "Unknown field." if code == "unknown_field" else error["msg"]
        errors.append({"code": code, "pointer": _pointer(error["loc"]), "detail": detail})
    return errors


def _shop_ids(body) -> list[tuple[int, int]]:
    """(index, shop_id) of every event that names a shop, whatever else is wrong with it."""
    return [
        (index, item["shop_id"])
        for index, item in enumerate(body)
        if isinstance(item, dict) and type(item.get("shop_id")) is int
    ]


@router.post(
    "/beacon-events",
    response={200: BeaconEventsOut},
    summary="Report beacon reads",
    description=(
        "Each event moves the RO paired with the tag to the stage of the zone, unless a later change is "
        "already recorded for that RO. Events are independent: one outcome per event, in request order."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": _events_adapter.json_schema(ref_template="#/components/schemas/{model}")
                }
            },
        }
    },
)
def beacon_events(request: HttpRequest):
    api_key = _authenticate(request)
    if api_key is None:
        return _problem(
            401,
            "Unauthorized",
            "Send a valid API key.",
            [{"code": "unauthorized", "pointer": "", "detail": "API key missing, unknown or revoked."}],
        )
    try:
        body = json.loads(request.body.decode("utf-8"))
    except UnicodeDecodeError:
        return _problem(
            400,
            "Invalid JSON",
            "The body is not UTF-8.",
            [{"code": "invalid_json", "pointer": "", "detail": "The body is not UTF-8."}],
        )
    except json.JSONDecodeError as exc:
        detail = f"Invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}."
        return _problem(
            400, "Invalid JSON", detail, [{"code": "invalid_json", "pointer": "", "detail": detail}]
        )
    if isinstance(body, list) and len(body) > MAX_EVENTS:
        detail = f"At most {MAX_EVENTS} events per request."
        return _problem(
            413, "Payload too large", detail, [{"code": "payload_too_large", "pointer": "", "detail": detail}]
        )

    errors: list[dict] = []
    events: list[BeaconEventIn] = []
    if isinstance(body, list) and not body:
        errors.append({"code": "validation_error", "pointer": "", "detail": "Send at least one event."})
    else:
        try:
            events = _events_adapter.validate_python(body)
        except ValidationError as exc:
            errors.extend(_schema_errors(exc))
    # A shop outside the key's scope reads exactly as one that does not exist.
    if isinstance(body, list):
        allowed = set(api_key.shops.values_list("id", flat=True))
        for index, shop_id in _shop_ids(body):
            if shop_id not in allowed:
                errors.append(
                    {
                        "code": "shop_not_found",
                        "pointer": f"/{index}/shop_id",
                        "detail": f"Shop {shop_id} does not exist.",
                    }
                )
    if errors:
        errors.sort(key=lambda e: _pointer_sort_key(e["pointer"]))
        count = len(errors)
        return _problem(
            422,
            "Unprocessable request",
            f"{count} problem{'s' if count != 1 else ''}; nothing was applied.",
            errors,
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
