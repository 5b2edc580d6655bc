"""SPEC §2 error table for the batch API, over HTTP: each bad request answers
the right status, code and pointer, and nothing is saved."""

import json

import pytest
from django.db import connection
from django.utils import timezone

from integrations.models import ApiKey
from tests import factories
from tests.api.conftest import URL, assert_problem, entry, full_ro, ro, snapshot


@pytest.fixture
def existing(shop, other_shop):
    """An RO the batches collide with; shop 44 exists but the key does not reach it."""
    repair_order = factories.make_repair_order(shop=shop, repair_number="EXIST-1", customer_phone_number="1")
    factories.add_to_team(repair_order, factories.make_person(shop=shop, external_id="P1", first_name="Sam"))
    return repair_order


def many_ros(count):
    return [entry(33, *[ro(f"N{i}") for i in range(count)])]


# (id, method, body: JSON-able or raw str/bytes, status, code, pointer)
CASES = [
    # 400: not JSON at all
    ("broken-json", "POST", '[{"shop_id": 33,\n "repair_orders": [}]', 400, "invalid_json", ""),
    ("empty-body", "POST", "", 400, "invalid_json", ""),
    (
        "nan-is-not-json",
        "PATCH",
        '[{"shop_id": 33, "repair_orders": [{"repair_number": "A", "total_estimated_hours": NaN}]}]',
        400,
        "invalid_json",
        "",
    ),
    (
        "not-utf8",
        "POST",
        b'[{"shop_id": 33, "repair_orders": [{"repair_number": "\xff"}]}]',
        400,
        "invalid_json",
        "",
    ),
    # 413
    ("over-1000-ros", "POST", many_ros(1001), 413, "payload_too_large", ""),
    (
        "over-1000-ros-patch",
        "PATCH",
        [entry(33, *[ro(f"N{i}") for i in range(600)]), entry(33, *[ro(f"M{i}") for i in range(401)])],
        413,
        "payload_too_large",
        "",
    ),
    (
        "over-5-mib",
        "POST",
        [entry(33, ro("BIG", obs_event_id="x" * (5 * 1024 * 1024)))],
        413,
        "payload_too_large",
        "",
    ),
    # 422 validation_error: shape
    ("body-not-array", "POST", {"shop_id": 33}, 422, "validation_error", ""),
    ("empty-array", "POST", [], 422, "validation_error", ""),
    ("empty-repair-orders", "POST", [entry(33)], 422, "validation_error", "/0/repair_orders"),
    ("entry-not-object", "POST", [entry(33, ro("A")), 7], 422, "validation_error", "/1"),
    ("shop-id-missing", "POST", [{"repair_orders": [ro("A")]}], 422, "validation_error", "/0/shop_id"),
    ("shop-id-string", "POST", [entry("33", ro("A"))], 422, "validation_error", "/0/shop_id"),
    ("shop-id-bool", "POST", [entry(True, ro("A"))], 422, "validation_error", "/0/shop_id"),
    (
        "repair-number-missing",
        "POST",
        [entry(33, {"status": "Active"})],
        422,
        "validation_error",
        "/0/repair_orders/0/repair_number",
    ),
    (
        "repair-number-number",
        "POST",
        [entry(33, ro(606471))],
        422,
        "validation_error",
        "/0/repair_orders/0/repair_number",
    ),
    (
        "repair-number-empty",
        "POST",
        [entry(33, ro(""))],
        422,
        "validation_error",
        "/0/repair_orders/0/repair_number",
    ),
    (
        "repair-number-51-chars",
        "POST",
        [entry(33, ro("x" * 51))],
        422,
        "validation_error",
        "/0/repair_orders/0/repair_number",
    ),
    (
        "year-as-string",
        "POST",
        [entry(33, ro("A"), ro("B"), ro("C", vehicle={"year": "2000"}))],
        422,
        "validation_error",
        "/0/repair_orders/2/vehicle/year",
    ),
    (
        "year-too-old",
        "POST",
        [entry(33, ro("A", vehicle={"year": 1899}))],
        422,
        "validation_error",
        "/0/repair_orders/0/vehicle/year",
    ),
    (
        "year-too-new",
        "POST",
        [entry(33, ro("A", vehicle={"year": 2101}))],
        422,
        "validation_error",
        "/0/repair_orders/0/vehicle/year",
    ),
    (
        "year-fraction",
        "POST",
        [entry(33, ro("A", vehicle={"year": 2000.5}))],
        422,
        "validation_error",
        "/0/repair_orders/0/vehicle/year",
    ),
    (
        "vin-with-o",
        "POST",
        [entry(33, ro("A", vehicle={"vin": "1GCEK19T2YE12345O"}))],
        422,
        "validation_error",
        "/0/repair_orders/0/vehicle/vin",
    ),
    (
        "vin-16-chars",
        "POST",
        [entry(33, ro("A", vehicle={"vin": "1GCEK19T2YE12345"}))],
        422,
        "validation_error",
        "/0/repair_orders/0/vehicle/vin",
    ),
    (
        "bad-email",
        "POST",
        [entry(33, ro("A", customer={"email": "bilbo@"}))],
        422,
        "validation_error",
        "/0/repair_orders/0/customer/email",
    ),
    (
        "naive-datetime",
        "POST",
        [entry(33, ro("A", scheduled_arrival="2020-03-11T00:00:00"))],
        422,
        "validation_error",
        "/0/repair_orders/0/scheduled_arrival",
    ),
    (
        "date-only",
        "POST",
        [entry(33, ro("A", scheduled_delivery="2020-03-11"))],
        422,
        "validation_error",
        "/0/repair_orders/0/scheduled_delivery",
    ),
    (
        "datetime-as-number",
        "POST",
        [entry(33, ro("A", scheduled_complete=1583884800))],
        422,
        "validation_error",
        "/0/repair_orders/0/scheduled_complete",
    ),
    (
        "impossible-date",
        "POST",
        [entry(33, ro("A", scheduled_arrival="2020-02-30T00:00:00Z"))],
        422,
        "validation_error",
        "/0/repair_orders/0/scheduled_arrival",
    ),
    (
        "before-year-1-in-utc",
        "POST",
        [entry(33, ro("A", scheduled_arrival="0001-01-01T00:00:00+01:00"))],
        422,
        "validation_error",
        "/0/repair_orders/0/scheduled_arrival",
    ),
    (
        "nul-in-text",
        "POST",
        [entry(33, ro("A", vehicle={"make": "Che\u0000vy"}))],
        422,
        "validation_error",
        "/0/repair_orders/0/vehicle/make",
    ),
    (
        "nul-in-repair-number",
        "PATCH",
        [entry(33, ro("EXIST\u00001"))],
        422,
        "validation_error",
        "/0/repair_orders/0/repair_number",
    ),
    (
        "negative-hours",
        "POST",
        [entry(33, ro("A", total_estimated_hours=-1))],
        422,
        "validation_error",
        "/0/repair_orders/0/total_estimated_hours",
    ),
    (
        "hours-as-string",
        "POST",
        [entry(33, ro("A", total_estimated_hours="48"))],
        422,
        "validation_error",
        "/0/repair_orders/0/total_estimated_hours",
    ),
    (
        "hours-3-decimals",
        "POST",
        [entry(33, ro("A", total_estimated_hours=1.125))],
        422,
        "validation_error",
        "/0/repair_orders/0/total_estimated_hours",
    ),
    (
        "rental-car-as-string",
        "POST",
        [entry(33, ro("A", rental_car="true"))],
        422,
        "validation_error",
        "/0/repair_orders/0/rental_car",
    ),
    (
        "status-31-chars",
        "POST",
        [entry(33, ro("A", status="x" * 31))],
        422,
        "validation_error",
        "/0/repair_orders/0/status",
    ),
    (
        "status-null",
        "POST",
        [entry(33, ro("A", status=None))],
        422,
        "validation_error",
        "/0/repair_orders/0/status",
    ),
    (
        "obs-event-id-101-chars",
        "POST",
        [entry(33, ro("A", obs_event_id="x" * 101))],
        422,
        "validation_error",
        "/0/repair_orders/0/obs_event_id",
    ),
    (
        "vehicle-not-object",
        "POST",
        [entry(33, ro("A", vehicle="Silverado"))],
        422,
        "validation_error",
        "/0/repair_orders/0/vehicle",
    ),
    (
        "team-not-array",
        "POST",
        [entry(33, ro("A", repair_team={"id": "1"}))],
        422,
        "validation_error",
        "/0/repair_orders/0/repair_team",
    ),
    (
        "member-id-missing",
        "POST",
        [entry(33, ro("A", repair_team=[{"first_name": "Sam"}]))],
        422,
        "validation_error",
        "/0/repair_orders/0/repair_team/0/id",
    ),
    (
        "member-id-number",
        "POST",
        [entry(33, ro("A", repair_team=[{"id": 4849843}]))],
        422,
        "validation_error",
        "/0/repair_orders/0/repair_team/0/id",
    ),
    (
        "member-twice-in-team",
        "POST",
        [entry(33, ro("A", repair_team=[{"id": "1"}, {"id": "1"}]))],
        422,
        "validation_error",
        "/0/repair_orders/0/repair_team",
    ),
    # 422 unknown_field, at every level
    (
        "unknown-entry-field",
        "POST",
        [{**entry(33, ro("A")), "shop_name": "x"}],
        422,
        "unknown_field",
        "/0/shop_name",
    ),
    (
        "unknown-ro-field",
        "POST",
        [entry(33, ro("A", colour="Red"))],
        422,
        "unknown_field",
        "/0/repair_orders/0/colour",
    ),
    (
        "unknown-vehicle-field",
        "POST",
        [entry(33, ro("A", vehicle={"trim": "LT"}))],
        422,
        "unknown_field",
        "/0/repair_orders/0/vehicle/trim",
    ),
    (
        "unknown-member-field",
        "PATCH",
        [entry(33, ro("EXIST-1", repair_team=[{"id": "1", "role": "x"}]))],
        422,
        "unknown_field",
        "/0/repair_orders/0/repair_team/0/role",
    ),
    (
        "unknown-field-with-slash",
        "POST",
        [entry(33, ro("A", **{"a/b~c": 1}))],
        422,
        "unknown_field",
        "/0/repair_orders/0/a~1b~0c",
    ),
    # 422 data problems
    (
        "shop-does-not-exist",
        "POST",
        [entry(33, ro("A")), entry(99, ro("B"))],
        422,
        "shop_not_found",
        "/1/shop_id",
    ),
    ("shop-outside-key", "POST", [entry(44, ro("A"))], 422, "shop_not_found", "/0/shop_id"),
    (
        "number-exists",
        "POST",
        [entry(33, ro("A"), ro("EXIST-1"))],
        422,
        "duplicate_repair_number",
        "/0/repair_orders/1/repair_number",
    ),
    (
        "number-twice-in-request",
        "POST",
        [entry(33, ro("A")), entry(33, ro("B"), ro("A"))],
        422,
        "duplicate_repair_number",
        "/1/repair_orders/1/repair_number",
    ),
    (
        "patch-ro-not-found",
        "PATCH",
        [entry(33, ro("EXIST-1", status="Closed"), ro("NOPE"))],
        422,
        "repair_order_not_found",
        "/0/repair_orders/1/repair_number",
    ),
    ("patch-shop-outside-key", "PATCH", [entry(44, ro("EXIST-1"))], 422, "shop_not_found", "/0/shop_id"),
    (
        "patch-number-twice",
        "PATCH",
        [entry(33, ro("EXIST-1", status="A"), ro("EXIST-1", status="B"))],
        422,
        "duplicate_repair_number",
        "/0/repair_orders/1/repair_number",
    ),
    (
        "patch-status-null",
        "PATCH",
        [entry(33, ro("EXIST-1", status=None))],
        422,
        "validation_error",
        "/0/repair_orders/0/status",
    ),
    (
        "patch-repair-number-null",
        "PATCH",
        [entry(33, ro(None, status="x"))],
        422,
        "validation_error",
        "/0/repair_orders/0/repair_number",
    ),
]


@pytest.mark.parametrize(
    ("method", "body", "status", "code", "pointer"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_batch_is_refused_and_saves_nothing(api, existing, method, body, status, code, pointer):
    before = snapshot()
    response = api.send(method, URL, body)
    problem = assert_problem(response, status, code, pointer)
    assert problem["detail"]
    assert snapshot() == before


def test_invalid_json_names_line_and_column(api, shop):
    response = api.post(URL, '[{"shop_id": 33,\n  "repair_orders": [}]')
    problem = assert_problem(response, 400, "invalid_json", "")
    assert "line 2, column 21" in problem["errors"][0]["detail"]


def test_nan_names_its_position(api, shop):
    response = api.post(
        URL, '[{"shop_id": 33, "repair_orders": [{"repair_number": "NaN",\n "total_estimated_hours": NaN}]}]'
    )
    problem = assert_problem(response, 400, "invalid_json", "")
    assert "line 2, column 27" in problem["errors"][0]["detail"]


def test_every_problem_comes_in_one_answer_in_request_order(api, existing):
    body = [
        entry(33, ro("A", vehicle={"year": "2000"}), ro("EXIST-1"), ro("B", colour="x"), ro("A")),
        entry(99, ro("C")),
        entry(44, ro("D", customer={"email": "nope"})),
    ]
    before = snapshot()
    response = api.post(URL, body)
    problem = assert_problem(response, 422, "validation_error")
    assert [(e["code"], e["pointer"]) for e in problem["errors"]] == [
        ("validation_error", "/0/repair_orders/0/vehicle/year"),
        ("duplicate_repair_number", "/0/repair_orders/1/repair_number"),
        ("unknown_field", "/0/repair_orders/2/colour"),
        ("duplicate_repair_number", "/0/repair_orders/3/repair_number"),
        ("shop_not_found", "/1/shop_id"),
        ("shop_not_found", "/2/shop_id"),
        ("validation_error", "/2/repair_orders/0/customer/email"),
    ]
    assert problem["detail"] == "7 problems; nothing was saved."
    assert snapshot() == before


def test_a_shop_outside_the_key_reads_like_a_missing_one(api, existing):
    outside = api.post(URL, [entry(44, ro("A"))]).json()["errors"]
    missing = api.post(URL, [entry(45, ro("A"))]).json()["errors"]
    assert outside == [
        {"code": "shop_not_found", "pointer": "/0/shop_id", "detail": "Shop 44 does not exist."}
    ]
    assert missing == [
        {"code": "shop_not_found", "pointer": "/0/shop_id", "detail": "Shop 45 does not exist."}
    ]


def _revoked_key(shop):
    raw = factories.make_api_key(shop)
    ApiKey.objects.update(revoked_at=timezone.now())
    return raw


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda shop: {}, id="no-key"),
        pytest.param(lambda shop: {"Authorization": "Bearer sb_not-a-key"}, id="unknown-bearer"),
        pytest.param(lambda shop: {"X-API-Key": "sb_not-a-key"}, id="unknown-x-api-key"),
        pytest.param(lambda shop: {"Authorization": "Basic c2I6eA=="}, id="wrong-scheme"),
        pytest.param(lambda shop: {"Authorization": f"Bearer {_revoked_key(shop)}"}, id="revoked"),
    ],
)
def test_batch_without_a_live_key_is_unauthorized(client, shop, method, headers):
    before = snapshot()
    response = client.generic(
        method, URL, json.dumps([entry(33, ro("A"))]), content_type="application/json", headers=headers(shop)
    )
    assert_problem(response, 401, "unauthorized", None)
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert snapshot() == before


def test_unexpected_error_is_500_without_its_text_and_saves_nothing(api, shop):
    # A real database failure the code does not expect, with a message that
    # must not reach the caller.
    with connection.cursor() as cursor:
        cursor.execute("""
            CREATE FUNCTION test_fail_ro_insert() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'secret-internal-detail'; END $$ LANGUAGE plpgsql;
            CREATE TRIGGER test_fail_ro_insert BEFORE INSERT ON repairs_repairorder
            FOR EACH ROW EXECUTE FUNCTION test_fail_ro_insert();
        """)
    before = snapshot()
    response = api.post(URL, [entry(33, full_ro("A"))])
    problem = assert_problem(response, 500, "internal_error", None)
    assert b"secret-internal-detail" not in response.content
    assert problem["title"] == "Internal server error"
    assert snapshot() == before


def test_ro_count_limit_is_inclusive(api, shop):
    response = api.post(URL, many_ros(1000))
    assert response.status_code == 201, response.content[:500]
    assert response.json()["count"] == 1000
