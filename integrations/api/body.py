"""From request bytes to JSON: the one reader of every JSON request body.

Everything a body can be refused for before any schema looks at it, each with
its own status and a problem a client can act on, in this order:

- 413 `payload_too_large`: over API_MAX_BODY_BYTES, refused from
  Content-Length before it is read when it is declared;
- 411 `length_required`: a chunked body the server cannot de-chunk (Django's
  development server; under gunicorn ChunkedBodyMiddleware below makes
  request.body the whole de-chunked body);
- 400 `invalid_json`: empty;
- 415 `unsupported_media_type`: the Content-Type is not `application/json`
  (or a `+json` type), or names a charset other than UTF-8;
- 400 `invalid_json`: not UTF-8, not JSON (line and column named),
  NaN/Infinity, nested too deeply;
- 422 `validation_error` at a pointer: JSON that Python would read as
  something other than what was sent — a key twice in one object (the last
  would silently win), an integer of more digits than Python converts
  (ValueError), a lone UTF-16 surrogate escape (no database stores it).

Those last three are rare, so the normal path pays only a flag per object:
the tree is walked for pointers only when the parser met one of them.
"""

import json
import re
import sys
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest

from .problems import ApiProblem, ErrorItem, json_pointer

JSON_MEDIA_TYPE = "application/json"
CONTENT_TYPE_HEADER = "Content-Type"


class _NotJsonConstant(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotJsonConstant(name)


# Python's json accepts NaN and Infinity, JSON does not. Strings are matched
# first so a "NaN" inside a string is skipped.
_CONSTANT_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)')
# A \uD800–\uDFFF escape; paired ones become one character, lone ones stay surrogates.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _line_column(text: str, position: int) -> tuple[int, int]:
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def _invalid_json(detail: str) -> ApiProblem:
    return ApiProblem(400, [ErrorItem("invalid_json", detail, pointer="")])


def too_large(detail: str) -> ApiProblem:
    return ApiProblem(413, [ErrorItem("payload_too_large", detail, pointer="")])


class _Object(dict):
    """A JSON object that had a key more than once (the keys, in order)."""

    duplicates: list[str]


class _HugeInteger:
    """An integer literal too long for int() (sys.get_int_max_str_digits)."""

    def __init__(self, digits: int):
        self.digits = digits


class _Reader:
    """One body's hooks for json.loads, noting what needs a pointer afterwards."""

    def __init__(self):
        self.suspect = False
        self.max_digits = sys.get_int_max_str_digits()

    def object(self, pairs: list[tuple[str, Any]]) -> dict:
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        self.suspect = True
        seen: set[str] = set()
        flagged = _Object(obj)
        flagged.duplicates = [key for key, _ in pairs if key in seen or seen.add(key)]
        return flagged

    def integer(self, literal: str) -> int | _HugeInteger:
        if self.max_digits and len(literal.lstrip("-")) > self.max_digits:
            self.suspect = True
            return _HugeInteger(len(literal.lstrip("-")))
        return int(literal)


def _problems_in(tree: Any, max_digits: int, surrogates: bool) -> list[ErrorItem]:
    """Every duplicate key, huge integer and (if any may be there) lone surrogate, with its pointer.

    Iterative: the tree may be as deep as json.loads allows.
    """
    errors: list[ErrorItem] = []
    stack: list[tuple[tuple, Any]] = [((), tree)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            for key in getattr(node, "duplicates", ()):
                errors.append(
                    ErrorItem(
                        "validation_error",
                        f"The key '{key[:100]}' appears more than once in this object; send it once.",
                        pointer=json_pointer(*path, key),
                    )
                )
            if surrogates:
                errors.extend(_surrogate_error((*path, key)) for key in node if _SURROGATE.search(key))
            stack.extend(((*path, key), value) for key, value in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend(((*path, index), value) for index, value in reversed(list(enumerate(node))))
        elif isinstance(node, _HugeInteger):
            errors.append(
                ErrorItem(
                    "validation_error",
                    f"An integer of {node.digits} digits: longer than the {max_digits} this API reads.",
                    pointer=json_pointer(*path),
                )
            )
        elif surrogates and isinstance(node, str) and _SURROGATE.search(node):
            errors.append(_surrogate_error(path))
    return errors


def _surrogate_error(path: tuple) -> ErrorItem:
    return ErrorItem(
        "validation_error",
        "Contains a lone UTF-16 surrogate escape (\\ud800–\\udfff without its pair): not text.",
        pointer=json_pointer(*path),
    )


def _check_content_type(request: HttpRequest) -> None:
    media_type = (request.content_type or "").lower()
    charset = request.content_params.get("charset", "utf-8").lower()
    if (
        media_type == JSON_MEDIA_TYPE
        or (media_type.startswith("application/") and media_type.endswith("+json"))
    ) and (charset in {"utf-8", "utf8"}):
        return
    sent = request.META.get("CONTENT_TYPE", "")
    was = f"was {sent[:100]!r}" if sent else "is missing"
    raise ApiProblem(
        415,
        [
            ErrorItem(
                "unsupported_media_type",
                f"Send the body as {JSON_MEDIA_TYPE} (UTF-8); the {CONTENT_TYPE_HEADER} header {was}.",
                parameter=CONTENT_TYPE_HEADER,
            )
        ],
        headers={f"Accept-{request.method.title()}": JSON_MEDIA_TYPE},
    )


def _is_chunked(meta) -> bool:
    return "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower() and not meta.get("CONTENT_LENGTH")


def _is_unreadable_chunked(meta) -> bool:
    """A chunked body that the WSGI server hands on still chunked (Django's development server)."""
    return _is_chunked(meta) and not meta.get("wsgi.input_terminated")


class ChunkedBodyMiddleware:
    """Read a de-chunked request body instead of none.

    Django reads a body by its Content-Length, and a chunked request has none:
    it would read as empty (an API client's JSON then looks invalid at line 1,
    column 1). A server that de-chunks (gunicorn) says so with
    `wsgi.input_terminated` (a PEP 3333 extension): its input then ends where
    the body does, and is read to its end, never past Django's upload limit
    (one byte more, so a too large body can still be told apart). A server
    that does not de-chunk is left alone: the API answers 411 there.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        if _is_chunked(meta) and meta.get("wsgi.input_terminated"):
            # WSGIRequest's own stream, re-made with the real bound (it was 0).
            request._stream = LimitedStream(meta["wsgi.input"], settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
        return self.get_response(request)


def _raw_body(request: HttpRequest, limit: int) -> bytes:
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        raise too_large(f"The body is over {limit} bytes.")  # refused before reading it
    if _is_unreadable_chunked(request.META):
        raise ApiProblem(
            411,
            [
                ErrorItem(
                    "length_required",
                    "This server cannot read a chunked body: send it with a Content-Length.",
                    parameter="Transfer-Encoding",
                )
            ],
        )
    return request.body


class _TooManyDigits(Exception):
    pass


def _parse(text: str, reader: _Reader, *, integers: bool) -> Any:
    # Integers go through a Python hook only on the second try: the C parser
    # converts them faster, and the limit is met once in a blue moon.
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            parse_int=reader.integer if integers else None,
            parse_constant=_reject_constant,
            object_pairs_hook=reader.object,
        )
    except (json.JSONDecodeError, _NotJsonConstant):
        raise
    except ValueError as exc:
        if integers or "integer string conversion" not in str(exc):
            raise
        raise _TooManyDigits from None


def read_json_body(request: HttpRequest) -> Any:
    """The request body as JSON; numbers with a fraction come as Decimal."""
    limit = settings.API_MAX_BODY_BYTES
    body = _raw_body(request, limit)
    if len(body) > limit:
        raise too_large(f"The body is over {limit} bytes.")
    if body:  # no body needs no type (clients often send none with it)
        _check_content_type(request)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid_json(f"The body is not UTF-8 (byte {exc.start + 1}).") from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise _invalid_json("The body is empty: send a JSON array.")
    reader = _Reader()
    try:
        try:
            tree = _parse(text, reader, integers=False)
        except _TooManyDigits:
            # Python's own int() limit: parse again, this time noting where.
            tree = _parse(text, reader, integers=True)
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
    surrogates = _SURROGATE_ESCAPE.search(text) is not None
    errors = _problems_in(tree, reader.max_digits, surrogates) if reader.suspect or surrogates else []
    if errors:
        count = len(errors)
        detail = f"{count} problem{'' if count == 1 else 's'} in reading the JSON; nothing was saved."
        raise ApiProblem(422, errors, detail=detail)
    return tree
