"""The one place that speaks HTTP to OBS (SPEC §5).

`post_update` sends one update and either returns (delivered) or raises
TransportError, whose `permanent` flag says whether trying again can help:
timeouts, connection errors, 408, 429 and 5xx are transient; every other
answer that is not a clean 2xx — other 4xx, redirects, a 2xx whose JSON body
carries an `error` member (OBS reports some errors with HTTP 200) — is
permanent.
"""

import json
import threading
import time
from dataclasses import dataclass

import requests

MESSAGE_MAX_CHARS = 1000
RETRYABLE_STATUSES = frozenset({408, 429})
USER_AGENT = "Shopboard OBS notifier"

_local = threading.local()


@dataclass(frozen=True)
class TransportResult:
    http_status: int
    message: str
    duration_ms: int


class TransportError(Exception):
    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        duration_ms: int,
        http_status: int | None = None,
        retry_after_seconds: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.duration_ms = duration_ms
        self.http_status = http_status
        self.retry_after_seconds = retry_after_seconds


def _session() -> requests.Session:
    # One keep-alive session per thread: a worker sends many updates to the
    # same host, and requests' Session is not meant to be shared by threads.
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def post_update(*, url: str, api_key: str, obs_event_id: str, status: str, timeout: float) -> TransportResult:
    body = json.dumps([{"obs_event_id": obs_event_id, "status": status}], ensure_ascii=False).encode("utf-8")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Accept": "application/json",
        "apikey": api_key,
        "User-Agent": USER_AGENT,
    }
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        # Redirects are not followed: requests would turn the POST into a GET.
        response = _session().post(
            url, data=body, headers=headers, timeout=(min(timeout, 5.0), timeout), allow_redirects=False
        )
    except requests.Timeout as exc:
        raise TransportError(
            f"No answer within {timeout:g} s.", permanent=False, duration_ms=elapsed_ms()
        ) from exc
    except requests.ConnectionError as exc:
        raise TransportError(
            f"Connection to OBS failed: {_short(exc)}", permanent=False, duration_ms=elapsed_ms()
        ) from exc
    except requests.RequestException as exc:
        # A malformed URL and the like: trying again will not help.
        raise TransportError(
            f"Request not sent: {_short(exc)}", permanent=True, duration_ms=elapsed_ms()
        ) from exc
    duration_ms = elapsed_ms()
    status_code = response.status_code
    message = _obs_message(response)

    if 200 <= status_code < 300:
        error = _error_member(response)
        if error is not None:
            raise TransportError(error, permanent=True, duration_ms=duration_ms, http_status=status_code)
        return TransportResult(http_status=status_code, message=message, duration_ms=duration_ms)
    text = message or response.reason or "no message"
    if status_code in RETRYABLE_STATUSES or status_code >= 500:
        raise TransportError(
            f"HTTP {status_code}: {text}",
            permanent=False,
            duration_ms=duration_ms,
            http_status=status_code,
            retry_after_seconds=_retry_after(response),
        )
    if 300 <= status_code < 400:
        text = f"redirected to {response.headers.get('Location', '?')}; check the OBS URL"
    raise TransportError(
        f"HTTP {status_code}: {text}", permanent=True, duration_ms=duration_ms, http_status=status_code
    )


def _json(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        return None


def _error_member(response: requests.Response) -> str | None:
    """OBS's error text when the JSON body carries an `error`/`Error` member
    with a value (`"error": null` is read as "no error")."""
    data = _json(response)
    for item in data if isinstance(data, list) else [data]:
        if isinstance(item, dict):
            for key, value in item.items():
                if key.lower() == "error" and value not in (None, "", False):
                    return _clip(value if isinstance(value, str) else json.dumps(value))
    return None


def _obs_message(response: requests.Response) -> str:
    """What OBS said, for people: the JSON message if there is one, else the body."""
    data = _json(response)
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if isinstance(data, dict):
        for key, value in data.items():
            if (
                key.lower() in {"error", "message", "msg", "status", "detail"}
                and isinstance(value, str)
                and value
            ):
                return _clip(value)
    return _clip(response.text.strip())


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # An HTTP-date: rare; the normal backoff applies.


def _short(exc: BaseException) -> str:
    """The root cause of a requests error ("[Errno 111] Connection refused"),
    not urllib3's nested retry wrapper."""
    reason = exc
    for _ in range(10):
        inner = getattr(reason, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next((a for a in reversed(reason.args) if isinstance(a, BaseException)), None)
        inner = inner or reason.__cause__
        if inner is None:
            break
        reason = inner
    return _clip(str(reason) or type(reason).__name__)


def _clip(text: str) -> str:
    return text if len(text) <= MESSAGE_MAX_CHARS else text[: MESSAGE_MAX_CHARS - 1] + "…"
