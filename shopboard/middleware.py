"""Request ids and the access log.

Every response carries X-Request-ID and every log line its value. The access
log names method, path, status and duration only: request bodies and query
strings can hold customer contact data, so they are never logged.
"""

import contextvars
import json
import logging
import re
import time
import uuid

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# A caller's id is echoed only if it is short and harmless in a header/log.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")  # fullmatch: `$` also matches before a "\n"

access_log = logging.getLogger("shopboard.access")


def current_request_id() -> str:
    return _request_id.get()


class RequestIDMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = _request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            return response
        finally:
            _request_id.reset(token)


class RequestIDLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # django.request logs a failed response after the middleware chain
        # has returned (and reset the context), but hands us the request.
        request = getattr(record, "request", None)
        record.request_id = getattr(request, "request_id", None) or _request_id.get()
        return True


# `request` (added by django.request) is left out: its repr holds the query
# string, which may carry customer data.
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id", "request"}


class JSONFormatter(logging.Formatter):
    """One JSON object per line: easy to ship to any log store and query."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ServerTimingMiddleware:
    """With SERVER_TIMING on, each response says how many SQL queries it cost
    and how long they took, and how long the whole request took in Django
    (`Server-Timing: db;desc="7 queries";dur=12.3, app;dur=40.1`).

    For operators and the benchmark; counting costs one closure per query.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.db import connection

        stats = {"count": 0, "seconds": 0.0}

        def count(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                stats["count"] += 1
                stats["seconds"] += time.perf_counter() - started

        started = time.perf_counter()
        with connection.execute_wrapper(count):
            response = self.get_response(request)
        total_ms = (time.perf_counter() - started) * 1000
        response["Server-Timing"] = (
            f'db;desc="{stats["count"]} queries";dur={stats["seconds"] * 1000:.1f}, app;dur={total_ms:.1f}'
        )
        return response
