"""RFC 9457 problem documents: the one shape of every API error (SPEC §2)."""

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse

PROBLEM_CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
    422: "Unprocessable request",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def json_pointer(*parts: str | int) -> str:
    """RFC 6901: '/'-joined reference tokens, with '~' and '/' escaped."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(frozen=True)
class ErrorItem:
    code: str
    detail: str
    pointer: str | None = None  # into the request body
    parameter: str | None = None  # a query or path parameter

    def as_dict(self) -> dict:
        item = {"code": self.code, "pointer": self.pointer, "detail": self.detail}
        if self.parameter is not None:
            item["parameter"] = self.parameter
        return item


class ApiProblem(Exception):
    """Raise anywhere in an API view to answer with a problem document."""

    def __init__(
        self,
        status: int,
        errors: Iterable[ErrorItem],
        detail: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.status = status
        self.errors = list(errors)
        self.detail = detail
        self.headers = headers or {}
        super().__init__(f"{status}: {[e.code for e in self.errors]}")


def problem_response(
    request: HttpRequest | None,
    status: int,
    errors: Iterable[ErrorItem],
    detail: str | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    errors = list(errors)
    if detail is None:
        detail = errors[0].detail if len(errors) == 1 else f"{len(errors)} problems."
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        # Set by shopboard's RequestIDMiddleware, which also sends it as X-Request-ID.
        "request_id": getattr(request, "request_id", None) or uuid.uuid4().hex,
        "errors": [e.as_dict() for e in errors],
    }
    response = HttpResponse(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def problem_from(request: HttpRequest | None, problem: ApiProblem) -> HttpResponse:
    return problem_response(request, problem.status, problem.errors, problem.detail, problem.headers)
