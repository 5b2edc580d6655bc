"""The outbound guard (SPEC §9): https only, public addresses only, checked
after DNS and before any connection; redirects never followed.

An audit hook sees every socket.connect of this process: the refusals are
proven to happen before a connection is even attempted, and a connection to
10.x or 169.254.x is blocked outright, should the guard ever let one through.
"""

import ipaddress
import sys
import threading

import pytest

from integrations.webhooks import transport
from tests.webhooks.support import Reply

_connects: list = []
_recording = threading.local()


def _audit(event, args):
    if event != "socket.connect":
        return
    address = args[1]
    host = address[0] if isinstance(address, tuple) else str(address)
    if getattr(_recording, "on", False):
        _connects.append(host)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return
    if ip in ipaddress.ip_network("10.0.0.0/8") or ip in ipaddress.ip_network("169.254.0.0/16"):
        raise ConnectionRefusedError(f"Test safety net: no traffic to {host}")


sys.addaudithook(_audit)


@pytest.fixture
def connects():
    _connects.clear()
    _recording.on = True
    yield _connects
    _recording.on = False


@pytest.fixture
def guard_on(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    settings.WEBHOOKS_TIMEOUT_SECONDS = 2
    return settings


@pytest.fixture
def guard_off(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.WEBHOOKS_TIMEOUT_SECONDS = 2
    return settings


def _post(url):
    return transport.post_message(url=url, body="{}", headers={"webhook-id": "msg_t"})


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hooks", "Only https"),
        ("http://169.254.169.254/latest/meta-data/", "Only https"),
        ("http://10.0.0.1/hooks", "Only https"),
        ("https://127.0.0.1/hooks", "127.0.0.1 is a loopback address"),
        (
            "https://169.254.169.254/latest/meta-data/",
            "169.254.169.254 is a link-local (cloud metadata) address",
        ),
        ("https://10.0.0.1/hooks", "10.0.0.1 is a private address"),
        ("https://[::1]/hooks", "::1 is a loopback address"),
        ("https://[::ffff:10.0.0.1]/hooks", "10.0.0.1 is a private address"),
        ("https://0.0.0.0/hooks", "0.0.0.0 is a"),
    ],
)
def test_guard_refuses_before_any_connection(guard_on, connects, url, reason):
    with pytest.raises(transport.UrlRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        _post(url)
    assert connects == []


def test_guard_refuses_a_name_resolving_to_a_private_address(guard_on, connects, receiver):
    port = receiver.server.server_address[1]
    with pytest.raises(
        transport.UrlRefused, match=r"localhost resolves to 127\.0\.0\.1 is a loopback address"
    ):
        _post(f"https://localhost:{port}/hooks")
    assert connects == []
    assert receiver.received == []


def test_a_redirect_is_never_followed_not_even_to_a_private_address(guard_off, connects, receiver):
    receiver.script(Reply(302, {}, headers={"Location": "http://10.0.0.1/internal"}))
    result = _post(receiver.url_for("/hooks"))
    assert not result.delivered and result.http_status == 302
    assert "redirected to http://10.0.0.1/internal; redirects are not followed" in result.error
    assert connects == ["127.0.0.1"]
    assert len(receiver.received) == 1


def test_a_redirect_to_a_local_server_sends_it_nothing(guard_off, receiver):
    receiver.script(Reply(307, {}, headers={"Location": receiver.url_for("/elsewhere")}))
    result = _post(receiver.url_for("/hooks"))
    assert not result.delivered
    assert [r.path for r in receiver.received] == ["/hooks"]


def test_with_the_guard_off_a_name_is_resolved_once_and_the_host_header_kept(guard_off, connects, receiver):
    port = receiver.server.server_address[1]
    result = _post(f"http://localhost:{port}/hooks?x=1")
    assert result.delivered
    [received] = receiver.received
    assert received.headers["host"] == f"localhost:{port}"
    assert received.path == "/hooks?x=1"
    assert connects == ["127.0.0.1"]


def test_the_answer_is_read_only_up_to_the_limit(guard_off, receiver, settings):
    settings.WEBHOOKS_RESPONSE_MAX_BYTES = 100
    receiver.script(Reply(200, b"x" * 100_000))
    result = _post(receiver.url_for("/hooks"))
    assert result.delivered and result.response_excerpt == "x" * 100


def test_a_slow_endpoint_times_out(guard_off, receiver, settings):
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.5
    receiver.script(Reply(200, delay=1.5))
    result = _post(receiver.url_for("/hooks"))
    assert not result.delivered and result.http_status is None
    assert result.error == "No answer within 0.5 s."


def test_410_and_retry_after_are_reported(guard_off, receiver):
    receiver.script(Reply(410, {"gone": True}), Reply(503, {}, headers={"Retry-After": "7"}))
    gone = _post(receiver.url_for("/hooks"))
    later = _post(receiver.url_for("/hooks"))
    assert gone.gone and not gone.delivered
    assert (later.http_status, later.retry_after_seconds) == (503, 7.0)
