"""The one NinjaAPI: mounts each app's router; every error is a problem document."""

import logging
from functools import wraps

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

import integrations.api
import integrations.beacons.api
from integrations.api.openapi import COMPONENTS
from integrations.api.problems import (
    PROBLEM_CONTENT_TYPE,
    ApiProblem,
    ErrorItem,
    json_pointer,
    problem_from,
    problem_response,
)

logger = logging.getLogger(__name__)


class ShopboardAPI(NinjaAPI):
    @property
    def urls(self):
        patterns, app_name, namespace = super().urls
        # ninja answers a wrong method with a bare text 405: make it a problem.
        for pattern in patterns:
            pattern.callback = _api_view(pattern.callback)
        # Last: any other path under the API answers a problem document too.
        patterns.append(re_path(r"^[\s\S]*$", _endpoint_not_found, name="not-found"))
        return patterns, app_name, namespace

    def get_openapi_schema(self, **kwargs):
        schema = super().get_openapi_schema(**kwargs)
        schema["components"]["schemas"].update(COMPONENTS)
        # Errors are sent as application/problem+json; ninja documents every
        # response with its renderer's media type.
        for operations in schema["paths"].values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if int(status) >= 400 and "application/json" in content:
                        content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
        return schema


def _api_view(view):
    """Around every API view: rate-limit headers, and 405 as a problem document."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = _problem_for_405(request, view(request, *args, **kwargs))
        limit = getattr(request, "rate_limit", None)
        if limit is not None:
            for name, value in limit.headers().items():
                response[name] = value
        return response

    return wrapper


def _problem_for_405(request, response):
    if response.status_code == 405 and response.get("Content-Type") != PROBLEM_CONTENT_TYPE:
        allowed = response.get("Allow", "")
        problem = problem_response(
            request,
            405,
            [ErrorItem("method_not_allowed", f"{request.method} is not allowed here; allowed: {allowed}.")],
        )
        problem["Allow"] = allowed
        return problem
    return response


@csrf_exempt
def _endpoint_not_found(request: HttpRequest) -> HttpResponse:
    return problem_response(request, 404, [ErrorItem("not_found", "There is no such API endpoint.")])


api = ShopboardAPI(
    title="Shopboard API",
    version="1.0.0",
    description="AutoSpot batch API and read API. Errors are RFC 9457 problem documents.",
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
api.add_router("", integrations.api.router)
api.add_router("", integrations.beacons.api.router)  # POST /beacon-events


@api.exception_handler(ApiProblem)
def _api_problem(request: HttpRequest, exc: ApiProblem) -> HttpResponse:
    return problem_from(request, exc)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """ninja's own validation: query and path parameters."""
    errors = []
    for error in exc.errors:
        source, *loc = error["loc"]
        code = "unknown_field" if error["type"] == "extra_forbidden" else "validation_error"
        detail = error["msg"].rstrip(".") + "."
        if source == "body":
            errors.append(ErrorItem(code, detail, pointer=json_pointer(*loc[1:])))
        else:
            errors.append(ErrorItem(code, detail, parameter=".".join(str(p) for p in loc) or source))
    return problem_response(request, 422, errors)


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return problem_response(
        request,
        401,
        [
            ErrorItem(
                "unauthorized", "Send a valid API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
            )
        ],
        headers={"WWW-Authenticate": 'Bearer realm="shopboard"'},
    )


_HTTP_ERROR_CODES = {403: "forbidden", 404: "not_found", 429: "rate_limited"}


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = _HTTP_ERROR_CODES.get(exc.status_code, "http_error")
    return problem_response(request, exc.status_code, [ErrorItem(code, str(exc))])


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem_response(request, 404, [ErrorItem("not_found", "Not found.")])


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return problem_response(
        request, 413, [ErrorItem("payload_too_large", "The body is too large.", pointer="")]
    )


@api.exception_handler(Exception)
def _internal_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    # The exception text stays in the log, tagged with the request id; the
    # caller gets the id to quote.
    logger.exception("Unhandled API error")
    return problem_response(
        request,
        500,
        [
            ErrorItem(
                "internal_error",
                "An unexpected error occurred; nothing was saved. Quote the request_id when reporting it.",
            )
        ],
    )
