"""API keys are never stored or logged in clear; request bodies and customer
contact data never reach the logs; log lines carry the request id."""

import io
import json
import logging

import pytest
from django.core.management import call_command

from integrations.models import ApiKey
from shopboard.middleware import JSONFormatter, RequestIDLogFilter
from tests.api.conftest import URL, entry, full_ro, ro

CUSTOMER = {
    "first_name": "Bilbo",
    "last_name": "Underhill",
    "email": "bilbo.secret@example.com",
    "phone_number": "5553337777",
}


@pytest.fixture
def all_logs():
    """Every log record of every logger, at DEBUG."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Collect(level=logging.DEBUG)
    handler.addFilter(RequestIDLogFilter())  # as the configured console handler does
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield records
    root.removeHandler(handler)
    root.setLevel(old_level)


def rendered(records) -> str:
    formatter = JSONFormatter()
    return "\n".join(formatter.format(record) for record in records)


def test_the_raw_key_is_in_no_table_and_no_log(api, api_key, shop, all_logs):
    api.post(URL, [entry(33, full_ro("R1"))])
    api.get("/api/v1/shops/33/repair-orders")
    api.post(URL, "{not json")  # an error path too
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    assert api_key not in dump.getvalue()
    key_part = api_key[3 + 8 :]  # past the prefix kept in clear for lookup
    assert key_part not in dump.getvalue()
    assert ApiKey.objects.get().hashed_key in dump.getvalue()  # the hash is what is stored
    assert api_key not in rendered(all_logs)


def test_create_api_key_prints_the_key_once_and_stores_only_its_hash(shop):
    out = io.StringIO()
    call_command("create_api_key", "dms", "--shop", "33", stdout=out)
    raw = out.getvalue().strip()
    assert raw.startswith("sb_") and len(raw) > 40
    stored = ApiKey.objects.get(name="dms")
    assert raw not in (stored.hashed_key, stored.prefix) and stored.prefix in raw


@pytest.mark.parametrize("status", [201, 422, 400])
def test_request_bodies_and_customer_data_never_reach_the_logs(api, shop, all_logs, status):
    body = [entry(33, ro("R1", customer=CUSTOMER))]
    if status == 422:
        body = [entry(33, ro("R1", customer={**CUSTOMER, "email": "not-an-email"}, vehicle={"year": "x"}))]
    text = json.dumps(body) if status != 400 else json.dumps(body)[:-3]
    response = api.post(URL, text)
    assert response.status_code == status
    logs = rendered(all_logs)
    assert logs, "the access log should have said something"
    for secret in ("bilbo.secret", "5553337777", "Underhill", "not-an-email"):
        assert secret not in logs


def test_an_unexpected_error_is_logged_with_the_request_id_but_without_the_body(
    api, shop, all_logs, monkeypatch
):
    from integrations.api import batch

    def explode(**kwargs):
        raise RuntimeError("boom inside")

    monkeypatch.setattr(batch, "repair_orders_create", explode)
    response = api.post(URL, [entry(33, ro("R1", customer=CUSTOMER))], headers={"X-Request-ID": "trace-42"})
    assert response.status_code == 500
    assert "boom" not in response.content.decode()
    assert response.json()["request_id"] == "trace-42"
    lines = [json.loads(line) for line in rendered(all_logs).splitlines()]
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert errors and all(line["request_id"] == "trace-42" for line in errors)
    assert any("boom inside" in line.get("exc_info", "") for line in errors)
    assert "5553337777" not in rendered(all_logs)


def test_access_log_lines_are_json_with_request_id_method_path_status(api, shop, all_logs):
    api.get("/api/v1/stages", headers={"X-Request-ID": "abc-123"})
    lines = [json.loads(line) for line in rendered(all_logs).splitlines()]
    access = [line for line in lines if line["logger"] == "shopboard.access"]
    assert access[-1]["request_id"] == "abc-123"
    assert (access[-1]["method"], access[-1]["path"], access[-1]["status"]) == ("GET", "/api/v1/stages", 200)
    assert isinstance(access[-1]["duration_ms"], float)
