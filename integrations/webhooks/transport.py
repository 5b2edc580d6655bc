"""The one place that speaks HTTP to webhook endpoints, guarded (SPEC §9).

`post_message` POSTs one signed message and returns a DeliveryResult: the
status, the start of the answer (at most WEBHOOKS_RESPONSE_MAX_BYTES are
read, within the timeout), how long it took, and whether it counts as
delivered (any 2xx).

The guard (unless WEBHOOKS_ALLOW_PRIVATE): the URL must be https; its host is
resolved here, once, and refused if any address is loopback, private,
link-local (the cloud metadata service, 169.254.169.254), unspecified,
multicast or otherwise not globally routable; the connection then goes to the
address that was checked (TLS still verified for the URL's host name, the
Host header kept), so a second DNS answer cannot steer it inside (DNS
rebinding). Redirects are never followed, guard or not: a 3xx is a failure
that names the Location. A refusal raises UrlRefused before any connection
is opened.

Connections are kept alive per process and checked address (`_pool`): an
answer read to its end leaves its connection for the next send to the same
address; an error, or an answer cut at the size limit, closes it.
"""

import ipaddress
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings

USER_AGENT = "Shopboard-Webhooks/1"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CHUNK_BYTES = 4096
# Keep-alive pools a process keeps (one per checked address and host), and
# idle connections per pool (as many as sends to one endpoint at once, or fewer).
POOLS_KEPT = 64
CONNECTIONS_PER_POOL = 8

_pools: OrderedDict = OrderedDict()
_pools_lock = threading.Lock()


class UrlRefused(Exception):
    """The URL breaks the outbound rules; nothing was sent."""


@dataclass(frozen=True)
class DeliveryResult:
    delivered: bool
    http_status: int | None
    # In words, for people; empty when delivered.
    error: str
    response_excerpt: str
    duration_ms: int
    # Seconds the endpoint asked us to wait (Retry-After, seconds form).
    retry_after_seconds: float | None = None

    @property
    def gone(self) -> bool:
        return self.http_status == 410


def _address_refusal(address: str) -> str | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for label, flagged in (
        ("loopback", ip.is_loopback),
        ("link-local (cloud metadata)", ip.is_link_local),
        ("private", ip.is_private),
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("not globally routable", not ip.is_global),
    ):
        if flagged:
            return f"{ip} is a {label} address"
    return None


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as in the URL (the Host header and the TLS name)
    port: int
    address: str  # the checked address to connect to
    path: str


def target_resolve(url: str, *, allow_private: bool) -> Target:
    """Check a URL against the rules and pin the address to connect to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UrlRefused(f"Only https URLs are allowed, not {scheme or 'no scheme'}.")
    if scheme != "https" and not allow_private:
        raise UrlRefused("Only https URLs are allowed (WEBHOOKS_ALLOW_PRIVATE is off).")
    host = parts.hostname
    if not host:
        raise UrlRefused("The URL has no host.")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        raise UrlRefused("The URL's port is not a number from 1 to 65535.") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(f"Cannot resolve {host}: {exc}.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise UrlRefused(f"{host} has no address.")
    if not allow_private:
        for address in addresses:
            if refusal := _address_refusal(address):
                raise UrlRefused(f"{host} resolves to {refusal}; webhooks go to public addresses only.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=scheme, host=host, port=port, address=addresses[0], path=path)


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == _DEFAULT_PORTS[target.scheme] else f"{host}:{target.port}"


def _pool_key(target: Target) -> tuple:
    return (target.scheme, target.address, target.port, target.host, settings.WEBHOOKS_CA_BUNDLE)


def _pool(target: Target, timeout: urllib3.Timeout) -> urllib3.HTTPConnectionPool:
    """The process's keep-alive pool for the checked address (and the URL's
    host, for TLS): the delivery threads send to the same few endpoints again
    and again. The address is checked at every send before a pool is chosen,
    so a kept connection only ever goes where the guard allowed this time."""
    key = _pool_key(target)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = _pool_new(target, timeout)
            while len(_pools) > POOLS_KEPT:
                _pools.popitem(last=False)[1].close()
        else:
            _pools.move_to_end(key)
        return pool


def _connection_drop(response) -> None:
    """Close the answer's connection instead of keeping it (an error, or an
    answer not read to its end: its rest must never be read as the next one)."""
    conn = getattr(response, "connection", None)
    if conn is not None:
        conn.close()
    response.release_conn()


def _pool_new(target: Target, timeout: urllib3.Timeout) -> urllib3.HTTPConnectionPool:
    common = {"port": target.port, "timeout": timeout, "retries": False, "maxsize": CONNECTIONS_PER_POOL}
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            target.address,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=settings.WEBHOOKS_CA_BUNDLE or certifi.where(),
            **common,
        )
    return urllib3.HTTPConnectionPool(target.address, **common)


def post_message(*, url: str, body: str, headers: dict[str, str]) -> DeliveryResult:
    """Send one attempt. Raises UrlRefused (nothing sent) when the URL breaks the rules."""
    target = target_resolve(url, allow_private=settings.WEBHOOKS_ALLOW_PRIVATE)
    timeout = settings.WEBHOOKS_TIMEOUT_SECONDS
    limit = settings.WEBHOOKS_RESPONSE_MAX_BYTES
    started = time.monotonic()
    deadline = started + timeout

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    all_headers = {
        "Host": _host_header(target),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **headers,
    }
    pool_timeout = urllib3.Timeout(connect=min(timeout, 5.0), read=timeout)
    pool = _pool(target, pool_timeout)
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body.encode("utf-8"),
            headers=all_headers,
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
            timeout=pool_timeout,
        )
        complete = False
        try:
            excerpt, complete = _read_start(response, limit=limit, deadline=deadline)
        finally:
            if complete:
                response.release_conn()  # read to its end: the connection is kept for the next send
            else:
                _connection_drop(response)  # the rest of the answer is never read
    except urllib3.exceptions.TimeoutError:
        return DeliveryResult(False, None, f"No answer within {timeout:g} s.", "", elapsed_ms())
    except urllib3.exceptions.HTTPError as exc:
        return DeliveryResult(False, None, f"Connection failed: {_root(exc)}", "", elapsed_ms())
    status = response.status
    if 200 <= status < 300:
        return DeliveryResult(True, status, "", excerpt, elapsed_ms())
    if 300 <= status < 400:
        error = f"HTTP {status}: redirected to {response.headers.get('Location', '?')}; redirects are not followed."
    elif status == 410:
        error = "HTTP 410 Gone: the endpoint asked to be removed."
    else:
        error = f"HTTP {status}."
    return DeliveryResult(False, status, error, excerpt, elapsed_ms(), _retry_after(response))


def _read_start(response, *, limit: int, deadline: float) -> tuple[str, bool]:
    """Up to `limit` bytes of the answer, stopping at the deadline; the rest
    is never read. And whether the answer was read to its end."""
    data = bytearray()
    complete = False
    while len(data) < limit + 1 and time.monotonic() < deadline:
        chunk = response.read1(min(_CHUNK_BYTES, limit + 1 - len(data)))
        if not chunk:
            complete = True
            break
        data += chunk
    return bytes(data[:limit]).decode("utf-8", errors="replace"), complete


def _retry_after(response) -> float | None:
    try:
        return max(float(response.headers.get("Retry-After", "")), 0.0)
    except ValueError:
        return None  # an HTTP-date: the normal backoff applies


def _root(exc: BaseException) -> str:
    reason = exc
    for _ in range(10):
        inner = getattr(reason, "reason", None) or reason.__cause__ or reason.__context__
        if not isinstance(inner, BaseException):
            break
        reason = inner
    return str(reason) or type(reason).__name__
