"""Client input that used to answer 500, or was accepted when a careful
integrator expects a refusal (issue 14): each answers its 4xx problem with a
pointer or the header at fault, and saves nothing."""

import json

import pytest

from tests import factories
from tests.api.conftest import URL, assert_problem, entry, ro, snapshot

VIN = "1FTFW1ET5DFC10312"
HUGE = "9" * 5000  # over Python's 4,300-digit int() limit


def raw(text: str) -> bytes:
    return text.encode()


# (id, method, body (JSON-able, or raw bytes), status, code, pointer)
CASES = [
    # Regex anchors: `$` matched before a final newline, and the column then refused 18 characters.
    ("vin-trailing-newline", "POST", [entry(33, ro("R1", vehicle={"vin": VIN + "\n"}))],
     422, "validation_error", "/0/repair_orders/0/vehicle/vin"),
    ("date-trailing-newline", "POST", [entry(33, ro("R1", scheduled_arrival="2020-03-11T00:00:00Z\n"))],
     422, "validation_error", "/0/repair_orders/0/scheduled_arrival"),
    # Python's int() digit limit, inside the JSON reader.
    ("huge-shop-id", "POST", raw(f'[{{"shop_id": {HUGE}, "repair_orders": [{{"repair_number": "R1"}}]}}]'),
     422, "validation_error", "/0/shop_id"),
    ("huge-negative-year", "PATCH",
     raw(f'[{{"shop_id": 33, "repair_orders": [{{"repair_number": "R1", "vehicle": {{"year": -{HUGE}}}}}]}}]'),
     422, "validation_error", "/0/repair_orders/0/vehicle/year"),
    # Duplicate keys: the last would silently win.
    ("duplicate-key", "POST", raw('[{"shop_id": 33, "repair_orders": [{"repair_number": "R1", "repair_number": "R2"}]}]'),
     422, "validation_error", "/0/repair_orders/0/repair_number"),
    ("duplicate-nested-key", "PATCH",
     raw('[{"shop_id": 33, "repair_orders": [{"repair_number": "R1", "vehicle": {"make": "A", "make": "B"}}]}]'),
     422, "validation_error", "/0/repair_orders/0/vehicle/make"),
    ("duplicate-top-key", "POST", raw('[{"shop_id": 33, "shop_id": 34, "repair_orders": [{"repair_number": "R1"}]}]'),
     422, "validation_error", "/0/shop_id"),
    # A lone surrogate escape is no text a database can store.
    ("lone-surrogate", "POST", raw('[{"shop_id": 33, "repair_orders": [{"repair_number": "R1", '
                                   '"customer": {"first_name": "Bi\\ud800lbo"}}]}]'),
     422, "validation_error", "/0/repair_orders/0/customer/first_name"),
    # Identifiers that look like another one.
    ("zero-width-space", "POST", [entry(33, ro("606471\u200b"))], 422, "validation_error",
     "/0/repair_orders/0/repair_number"),
    ("bidi-override", "POST", [entry(33, ro("\u202e606471"))], 422, "validation_error",
     "/0/repair_orders/0/repair_number"),
    ("newline-in-number", "POST", [entry(33, ro("A\nB"))], 422, "validation_error",
     "/0/repair_orders/0/repair_number"),
    ("no-break-space", "POST", [entry(33, ro("606\u00a0471"))], 422, "validation_error",
     "/0/repair_orders/0/repair_number"),
    ("only-whitespace", "POST", [entry(33, ro("   "))], 422, "validation_error", "/0/repair_orders/0/repair_number"),
    ("outer-space", "POST", [entry(33, ro("606471 "))], 422, "validation_error", "/0/repair_orders/0/repair_number"),
    ("zero-width-member-id", "POST", [entry(33, ro("R1", repair_team=[{"id": "E\u200d1"}]))], 422,
     "validation_error", "/0/repair_orders/0/repair_team/0/id"),
    ("patch-zero-width", "PATCH", [entry(33, ro("EXIST-1\u200b", status="Hold"))], 422, "validation_error",
     "/0/repair_orders/0/repair_number"),
]  # fmt: skip


@pytest.mark.parametrize(
    "method, body, status, code, pointer", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_edge_input_is_refused_at_its_pointer_and_saves_nothing(
    api, shop, method, body, status, code, pointer
):
    factories.make_repair_order(shop=shop, repair_number="EXIST-1")
    before = snapshot()
    problem = assert_problem(api.send(method, URL, body), status, code, pointer)
    assert "internal" not in json.dumps(problem)
    assert snapshot() == before


def test_a_valid_vin_and_unicode_numbers_are_still_accepted(api, shop):
    response = api.post(URL, [entry(33, ro("R1", vehicle={"vin": VIN}), ro("2024/17-é"), ro("A B"))])
    assert response.status_code == 201, response.content
    # The same characters, in the same order, read back.
    assert api.get("/api/v1/shops/33/repair-orders/2024%2F17-%C3%A9").json()["repair_number"] == "2024/17-é"


def test_paired_surrogate_escapes_are_one_character(api, shop):
    body = '[{"shop_id": 33, "repair_orders": [{"repair_number": "R1", "customer": {"first_name": "\\ud83d\\ude97"}}]}]'
    assert api.post(URL, body).status_code == 201
    assert api.get("/api/v1/shops/33/repair-orders/R1").json()["customer"]["first_name"] == "\U0001f697"


def test_every_duplicate_key_is_listed(api, shop):
    body = '[{"shop_id": 33, "repair_orders": [{"repair_number": "R1", "repair_number": "R1", "status": "A", "status": "B"}]}]'
    problem = assert_problem(api.post(URL, body), 422, "validation_error")
    assert [e["pointer"] for e in problem["errors"]] == [
        "/0/repair_orders/0/repair_number",
        "/0/repair_orders/0/status",
    ]


# --- Content-Type ------------------------------------------------------------

BODY = json.dumps([entry(33, ro("R1"))])


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "application/json; charset=latin-1",
    ],
)
@pytest.mark.parametrize("method, accept_header", [("POST", "Accept-Post"), ("PATCH", "Accept-Patch")])
def test_a_body_that_is_not_json_by_its_content_type_answers_415(
    api, shop, content_type, method, accept_header
):
    response = api.client.generic(
        method, URL, BODY, content_type=content_type, headers={"Authorization": f"Bearer {api.key}"}
    )
    assert_problem(response, 415, "unsupported_media_type", None, "Content-Type")
    assert response[accept_header] == "application/json"
    assert snapshot()["repair_orders"] == []


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.api+json"],
)
def test_json_content_types_are_accepted(api, shop, content_type):
    response = api.client.post(
        URL, BODY, content_type=content_type, headers={"Authorization": f"Bearer {api.key}"}
    )
    assert response.status_code == 201, response.content


def test_a_body_without_content_type_answers_415(api, shop):
    response = api.client.generic(
        "POST", URL, BODY, content_type="", headers={"Authorization": f"Bearer {api.key}"}
    )
    problem = assert_problem(response, 415, "unsupported_media_type", None, "Content-Type")
    assert "missing" in problem["detail"]


def test_an_empty_body_says_so(api, shop):
    problem = assert_problem(api.post(URL, ""), 400, "invalid_json", "")
    assert problem["detail"] == "The body is empty: send a JSON array."


def test_a_chunked_body_the_server_cannot_read_answers_411(api, shop):
    # What Django's development server hands on: chunked, no Content-Length,
    # no wsgi.input_terminated. (Read over real servers in test_chunked_http.py.)
    response = api.client.generic(
        "POST", URL, BODY, content_type="application/json",
        headers={"Authorization": f"Bearer {api.key}", "Transfer-Encoding": "chunked"}, CONTENT_LENGTH="",
    )  # fmt: skip
    assert_problem(response, 411, "length_required", None, "Transfer-Encoding")
    assert snapshot()["repair_orders"] == []


def test_a_request_id_with_a_trailing_newline_is_replaced_not_echoed(api, shop):
    response = api.get("/api/v1/stages", headers={"X-Request-ID": "abc\n"})
    assert response.status_code == 200
    assert response["X-Request-ID"] not in {"abc", "abc\n"} and len(response["X-Request-ID"]) == 32
