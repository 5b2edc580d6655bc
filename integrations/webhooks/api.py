"""Webhook endpoints of a shop, for API keys (SPEC §9):
/api/v1/shops/{shop_id}/webhook-endpoints[/{id}[/rotate-secret|/test]].

Bodies are parsed here (as the beacon and batch endpoints do) so every
problem comes back at once with a JSON Pointer. An endpoint of a shop
outside the key's scope reads exactly as one that does not exist.
"""

from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, TypeAdapter, ValidationError

from integrations.api.auth import api_key_auth, key_shop_ids
from integrations.api.body import read_json_body
from integrations.api.openapi import json_request_body
from integrations.api.parsing import error_item
from integrations.api.problems import ApiProblem, ErrorItem
from integrations.api.render import json_response
from integrations.api.schemas import NoNul, ProblemOut

from . import services
from .events import SUBSCRIBABLE, EventType
from .models import WebhookEndpoint
from .selectors import endpoint_of_shop, endpoints_of_shop

router = Router(tags=["Webhooks"], auth=api_key_auth)

EventName = Literal[tuple(e.value for e in (*SUBSCRIBABLE, EventType.ALL))]  # type: ignore[valid-type]
Url = Annotated[StrictStr, Field(min_length=1, max_length=2000), NoNul]
Description = Annotated[StrictStr, Field(max_length=200), NoNul]


class EndpointCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Url = Field(description="https only; must resolve to a public address.")
    events: list[EventName] = Field(min_length=1, description='Event types, or ["*"] for all.')
    description: Description = ""
    enabled: StrictBool = True


class EndpointUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Url | None = None
    events: list[EventName] | None = Field(None, min_length=1)
    description: Description | None = None
    enabled: StrictBool | None = None


class EndpointOut(Schema):
    id: int
    url: str
    events: list[str]
    description: str
    enabled: bool
    created_at: datetime
    disabled_reason: str | None = Field(None, description="Why Shopboard disabled it (410, days of failure).")


class EndpointWithSecretOut(EndpointOut):
    secret: str = Field(description="whsec_ + base64 of 32 random bytes. Shown only in this answer.")


class TestMessageOut(Schema):
    webhook_id: str
    type: str


_PROBLEMS = {401: ProblemOut, 404: ProblemOut, 422: ProblemOut, 429: ProblemOut, 500: ProblemOut}
_BODY_PROBLEMS = {**_PROBLEMS, 400: ProblemOut, 413: ProblemOut}
_create_adapter = TypeAdapter(EndpointCreateIn)
_update_adapter = TypeAdapter(EndpointUpdateIn)


def _out(endpoint: WebhookEndpoint, secret: str | None = None) -> dict:
    data = {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "created_at": endpoint.created_at,
        "disabled_reason": endpoint.disabled_reason or None,
    }
    if secret is not None:
        return EndpointWithSecretOut(**data, secret=secret).model_dump(mode="json")
    return EndpointOut(**data).model_dump(mode="json")


def _require_shop(request: HttpRequest, shop_id: int) -> None:
    if shop_id not in key_shop_ids(request):
        raise ApiProblem(
            404, [ErrorItem("shop_not_found", f"Shop {shop_id} does not exist.", parameter="shop_id")]
        )


def _endpoint(request: HttpRequest, shop_id: int, endpoint_id: int) -> WebhookEndpoint:
    _require_shop(request, shop_id)
    endpoint = endpoint_of_shop(shop_id=shop_id, endpoint_id=endpoint_id)
    if endpoint is None:
        raise ApiProblem(
            404,
            [
                ErrorItem(
                    "webhook_endpoint_not_found",
                    f"Webhook endpoint {endpoint_id} does not exist in shop {shop_id}.",
                    parameter="endpoint_id",
                )
            ],
        )
    return endpoint


def _parse(request: HttpRequest, adapter: TypeAdapter):
    body = read_json_body(request)
    try:
        return adapter.validate_python(body)
    except ValidationError as exc:
        errors = [error_item(e) for e in exc.errors(include_url=False, include_input=False)]
        raise ApiProblem(422, errors, detail=f"{len(errors)} problem(s); nothing was saved.") from None


def _invalid(exc: services.EndpointInvalid) -> ApiProblem:
    return ApiProblem(422, [ErrorItem("validation_error", exc.message, pointer=f"/{exc.field}")])


@router.get(
    "/shops/{shop_id}/webhook-endpoints",
    response={200: list[EndpointOut], **_PROBLEMS},
    summary="List a shop's webhook endpoints",
)
def endpoints_get(request: HttpRequest, shop_id: int) -> HttpResponse:
    _require_shop(request, shop_id)
    return json_response([_out(e) for e in endpoints_of_shop(shop_id=shop_id)])


@router.post(
    "/shops/{shop_id}/webhook-endpoints",
    response={201: EndpointWithSecretOut, **_BODY_PROBLEMS},
    summary="Add a webhook endpoint",
    description="The answer carries the endpoint's signing secret, once.",
    openapi_extra=json_request_body(EndpointCreateIn, "The endpoint."),
)
def endpoint_post(request: HttpRequest, shop_id: int) -> HttpResponse:
    _require_shop(request, shop_id)
    data = _parse(request, _create_adapter)
    try:
        endpoint, secret = services.endpoint_create(shop_id=shop_id, **data.model_dump())
    except services.EndpointInvalid as exc:
        raise _invalid(exc) from None
    return json_response(_out(endpoint, secret), status=201)


@router.get(
    "/shops/{shop_id}/webhook-endpoints/{endpoint_id}",
    response={200: EndpointOut, **_PROBLEMS},
    summary="Get a webhook endpoint",
)
def endpoint_get(request: HttpRequest, shop_id: int, endpoint_id: int) -> HttpResponse:
    return json_response(_out(_endpoint(request, shop_id, endpoint_id)))


@router.patch(
    "/shops/{shop_id}/webhook-endpoints/{endpoint_id}",
    response={200: EndpointOut, **_BODY_PROBLEMS},
    summary="Change a webhook endpoint",
    description="Only the fields sent change. `enabled: true` re-enables a disabled endpoint.",
    openapi_extra=json_request_body(EndpointUpdateIn, "The fields to change."),
)
def endpoint_patch(request: HttpRequest, shop_id: int, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, shop_id, endpoint_id)
    data = _parse(request, _update_adapter)
    try:
        endpoint = services.endpoint_update(endpoint_id=endpoint.id, **data.model_dump(exclude_none=True))
    except services.EndpointInvalid as exc:
        raise _invalid(exc) from None
    return json_response(_out(endpoint))


@router.delete(
    "/shops/{shop_id}/webhook-endpoints/{endpoint_id}",
    response={204: None, **_PROBLEMS},
    summary="Delete a webhook endpoint",
)
def endpoint_delete(request: HttpRequest, shop_id: int, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, shop_id, endpoint_id)
    services.endpoint_delete(endpoint_id=endpoint.id)
    return HttpResponse(status=204)


@router.post(
    "/shops/{shop_id}/webhook-endpoints/{endpoint_id}/rotate-secret",
    response={200: EndpointWithSecretOut, **_PROBLEMS},
    summary="Rotate a webhook endpoint's secret",
    description="The new secret, once. For 24 h messages are signed with the new and the old secret.",
)
def endpoint_rotate(request: HttpRequest, shop_id: int, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, shop_id, endpoint_id)
    endpoint, secret = services.endpoint_secret_rotate(endpoint_id=endpoint.id)
    return json_response(_out(endpoint, secret))


@router.post(
    "/shops/{shop_id}/webhook-endpoints/{endpoint_id}/test",
    response={202: TestMessageOut, **_PROBLEMS},
    summary="Send a test event",
    description="Queues a `webhook.test` message to the endpoint, whatever events it lists.",
)
def endpoint_test(request: HttpRequest, shop_id: int, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, shop_id, endpoint_id)
    message = services.endpoint_test_send(endpoint_id=endpoint.id)
    return json_response({"webhook_id": message.webhook_id, "type": message.event_type}, status=202)
