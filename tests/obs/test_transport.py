"""The transport against a real local HTTP server: what counts as delivered,
what is retried, what fails at once (SPEC §5)."""

import socket

import pytest

from integrations.obs.transport import TransportError, post_update
from tests.obs.support import Reply


def send(fake_obs, *, timeout=1.0):
    return post_update(url=fake_obs.url, api_key="k", obs_event_id="E-1", status="7", timeout=timeout)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, {"success": True}),
        Reply(201, {"result": "ok"}),
        Reply(204, b""),
        Reply(200, b"OK"),
        Reply(200, {"error": None}),
        Reply(200, {"Error": ""}),
    ],
    ids=["200-json", "201", "204-empty", "200-text", "error-null", "Error-empty"],
)
def test_clean_2xx_is_delivered(fake_obs, reply):
    fake_obs.script(reply)
    result = send(fake_obs)
    assert result.http_status == reply.status


@pytest.mark.parametrize(
    "reply, http_status, message",
    [
        (Reply(200, {"error": "Invalid Api Key"}), 200, "Invalid Api Key"),
        (Reply(200, {"Error": "Event not found"}), 200, "Event not found"),
        (Reply(200, [{"Error": "Unknown status"}]), 200, "Unknown status"),
        (Reply(400, {"message": "Bad status"}), 400, "HTTP 400: Bad status"),
        (Reply(401, {"Message": "Unauthorized"}), 401, "HTTP 401: Unauthorized"),
        (Reply(404, b"nope"), 404, "HTTP 404: nope"),
        (Reply(422, {"error": "Unprocessable"}), 422, "HTTP 422: Unprocessable"),
        (
            Reply(301, b"", headers={"Location": "https://elsewhere.example/"}),
            301,
            "redirected to https://elsewhere.example/",
        ),
    ],
    ids=["200-error", "200-Error", "200-list-Error", "400", "401", "404", "422", "301"],
)
def test_other_4xx_and_error_bodies_fail_permanently_with_obs_message(fake_obs, reply, http_status, message):
    fake_obs.script(reply)
    with pytest.raises(TransportError) as caught:
        send(fake_obs)
    assert caught.value.permanent
    assert caught.value.http_status == http_status
    assert message in caught.value.message


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_408_429_and_5xx_are_retried(fake_obs, status):
    fake_obs.script(Reply(status, {"message": "later"}))
    with pytest.raises(TransportError) as caught:
        send(fake_obs)
    assert not caught.value.permanent
    assert caught.value.http_status == status
    assert caught.value.message == f"HTTP {status}: later"


def test_retry_after_is_read(fake_obs):
    fake_obs.script(Reply(429, {"message": "slow down"}, headers={"Retry-After": "7"}))
    with pytest.raises(TransportError) as caught:
        send(fake_obs)
    assert caught.value.retry_after_seconds == 7


def test_timeout_is_retried(fake_obs):
    fake_obs.script(Reply(delay=1.0))
    with pytest.raises(TransportError) as caught:
        send(fake_obs, timeout=0.3)
    assert not caught.value.permanent and caught.value.http_status is None
    assert caught.value.message == "No answer within 0.3 s."
    assert caught.value.duration_ms >= 300


def test_dropped_connection_is_retried(fake_obs):
    fake_obs.script(Reply(drop=True))
    with pytest.raises(TransportError) as caught:
        send(fake_obs)
    assert not caught.value.permanent
    assert caught.value.message.startswith("Connection to OBS failed")


def test_refused_connection_is_retried():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError) as caught:
        post_update(url=f"http://127.0.0.1:{port}/", api_key="k", obs_event_id="E", status="1", timeout=1)
    assert not caught.value.permanent


def test_malformed_url_fails_permanently():
    with pytest.raises(TransportError) as caught:
        post_update(url="not a url", api_key="k", obs_event_id="E", status="1", timeout=1)
    assert caught.value.permanent


def test_sends_one_update_as_utf8_json_with_apikey_header(fake_obs):
    post_update(
        url=fake_obs.url,
        api_key="secret-key",
        obs_event_id="783A61C0-DDAA-4B11-A758475C419B5927",
        status="Peinture ✓",
        timeout=1,
    )
    [received] = fake_obs.received
    assert received.headers["content-type"] == "application/json; charset=utf-8"
    assert received.headers["apikey"] == "secret-key"
    assert received.body == [{"obs_event_id": "783A61C0-DDAA-4B11-A758475C419B5927", "status": "Peinture ✓"}]
    assert "✓".encode() in received.raw
