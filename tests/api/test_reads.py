"""Read API (SPEC §4): stages, shops, RO lists with keyset pagination, one RO."""

from datetime import timedelta

import pytest
from django.utils import timezone

from repairs.models import RepairOrder
from tests import factories
from tests.api.conftest import URL, assert_problem, entry, full_ro, get_ro, ro

LIST = "/api/v1/shops/33/repair-orders"


def test_stages_in_board_order(api):
    response = api.get("/api/v1/stages")
    assert response.status_code == 200
    stages = response.json()
    assert len(stages) == 15
    assert [s["position"] for s in stages] == list(range(1, 16))
    assert [s["id"] for s in stages][-2:] == [15, 14]
    assert stages[0] == {"id": 1, "name": "SCHEDULED IN", "position": 1}


def test_shops_are_those_the_key_reaches(client_for, shop, other_shop):
    factories.make_shop(id=55, name="Bree Body Works")
    assert client_for(shop).get("/api/v1/shops").json() == [{"id": 33, "name": "Baggins Body Shop"}]
    assert client_for(other_shop, shop).get("/api/v1/shops").json() == [
        {"id": 33, "name": "Baggins Body Shop"},
        {"id": 44, "name": "Sackville Collision"},
    ]


def test_ro_by_number_reads_what_was_sent(api, shop):
    api.post(URL, [entry(33, full_ro("606471"))])
    readback = get_ro(api, 33, "606471")
    assert readback["vehicle"]["vin"] == "1GCEK19T2YE123456"
    assert readback["repair_team"] == [
        {"id": "E1", "first_name": "Meriadoc", "last_name": "Brandybuck", "title": "Estimator"}
    ]


def test_ro_number_with_a_slash_is_readable(api, shop):
    api.post(URL, [entry(33, ro("2024/17 B"))])
    assert get_ro(api, 33, "2024%2F17%20B")["repair_number"] == "2024/17 B"


@pytest.mark.parametrize(
    ("path", "code", "parameter"),
    [
        ("/api/v1/shops/44/repair-orders", "shop_not_found", "shop_id"),
        ("/api/v1/shops/44/repair-orders/X-1", "shop_not_found", "shop_id"),
        ("/api/v1/shops/99/repair-orders", "shop_not_found", "shop_id"),
        ("/api/v1/shops/99/repair-orders/X-1", "shop_not_found", "shop_id"),
        ("/api/v1/shops/33/repair-orders/NOPE", "repair_order_not_found", "repair_number"),
    ],
)
def test_reads_outside_the_key_or_unknown_are_404(api, shop, other_shop, path, code, parameter):
    factories.make_repair_order(shop=other_shop, repair_number="X-1")
    response = api.get(path)
    problem = assert_problem(response, 404, code, None, parameter)
    assert "X-1" not in problem["detail"] or code == "repair_order_not_found"


def test_a_shop_outside_the_key_reads_like_a_missing_one(api, shop, other_shop):
    factories.make_repair_order(shop=other_shop, repair_number="X-1")
    outside = api.get("/api/v1/shops/44/repair-orders/X-1").json()
    missing = api.get("/api/v1/shops/45/repair-orders/X-1").json()
    assert outside["errors"] == [
        {
            "code": "shop_not_found",
            "pointer": None,
            "parameter": "shop_id",
            "detail": "Shop 44 does not exist.",
        }
    ]
    assert missing["errors"][0]["detail"] == "Shop 45 does not exist."


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("stage_id=x", "stage_id"),
        ("updated_since=2020-03-11T00:00:00", "updated_since"),
        ("updated_since=yesterday", "updated_since"),
        ("cursor=not-a-cursor", "cursor"),
        ("updated_since=9999-12-31T23:59:59-05:00", "updated_since"),
        ("status=Act%00ive", "status"),
    ],
)
def test_bad_list_parameters_are_422(api, shop, query, parameter):
    assert_problem(api.get(f"{LIST}?{query}"), 422, "validation_error", None, parameter)


def test_list_default_limit_is_50(api, shop):
    api.post(URL, [entry(33, *[ro(f"R{i:03d}") for i in range(60)])])
    page = api.get(LIST).json()
    assert len(page["items"]) == 50
    assert page["next_cursor"]


def test_list_filters_by_stage_status_and_updated_since(api, shop):
    old = factories.make_repair_order(shop=shop, repair_number="OLD", stage_id=7, status="Active")
    RepairOrder.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=2))
    factories.make_repair_order(shop=shop, repair_number="BODY", stage_id=7, status="active")
    factories.make_repair_order(shop=shop, repair_number="CLOSED", stage_id=7, status="Closed")
    factories.make_repair_order(shop=shop, repair_number="NEW", stage_id=1, status="ACTIVE")

    def numbers(query):
        response = api.get(f"{LIST}?{query}")
        assert response.status_code == 200, response.content
        return sorted(item["repair_number"] for item in response.json()["items"])

    assert numbers("stage_id=7") == ["BODY", "CLOSED", "OLD"]
    assert numbers("status=Active") == ["BODY", "NEW", "OLD"]
    since = (timezone.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert numbers(f"updated_since={since}") == ["BODY", "CLOSED", "NEW"]
    assert numbers(f"stage_id=7&status=closed&updated_since={since}") == ["CLOSED"]
    since_with_offset = (
        (timezone.now() - timedelta(days=1)).astimezone(timezone.get_fixed_timezone(-300)).isoformat()
    )
    assert numbers(f"updated_since={since_with_offset.replace('+', '%2B')}") == ["BODY", "CLOSED", "NEW"]


def _all_pages(api, limit, between_pages=None):
    seen, cursor, pages = [], None, 0
    while True:
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(f"{LIST}?{query}").json()
        seen += [item["repair_number"] for item in page["items"]]
        pages += 1
        if between_pages:
            between_pages(pages)
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_keyset_pages_are_stable_when_ros_are_inserted_between_pages(api, shop):
    api.post(URL, [entry(33, *[ro(f"R{i:02d}") for i in range(25)])])
    existing = _all_pages(api, limit=10)
    assert sorted(existing) == [f"R{i:02d}" for i in range(25)]

    inserted = []

    def insert(page):
        # New ROs arrive while the client pages: they come after its
        # position, so no existing RO is skipped or shown twice.
        numbers = [f"NEW-{page}-A", f"NEW-{page}-B"]
        inserted.append(numbers)
        api.post(URL, [entry(33, *[ro(n) for n in numbers])])

    seen = _all_pages(api, limit=10, between_pages=insert)
    assert seen[:25] == existing
    assert len(seen) == len(set(seen))
    # Everything inserted before the last page was read is listed after them.
    assert sorted(seen[25:]) == sorted(n for numbers in inserted[:-1] for n in numbers)
    assert len(inserted) >= 3


def test_ro_changed_while_paging_is_seen_again_not_skipped(api, shop):
    api.post(URL, [entry(33, *[ro(f"R{i:02d}") for i in range(6)])])
    first = api.get(f"{LIST}?limit=3").json()
    # R00 was on the first page; change it before the second page is read.
    api.patch(URL, [entry(33, ro(first["items"][0]["repair_number"], status="Hold"))])
    rest = api.get(f"{LIST}?limit=10&cursor={first['next_cursor']}").json()
    numbers = [i["repair_number"] for i in first["items"] + rest["items"]]
    assert set(numbers) == {f"R{i:02d}" for i in range(6)}
    assert rest["items"][-1]["repair_number"] == first["items"][0]["repair_number"]
    assert rest["items"][-1]["status"] == "Hold"
    assert rest["next_cursor"] is None


def test_reads_need_a_key(client, shop):
    for path in ("/api/v1/stages", "/api/v1/shops", LIST, f"{LIST}/X"):
        assert_problem(client.get(path), 401, "unauthorized", None)


def test_list_query_count_does_not_grow_with_the_page(api, shop, django_assert_max_num_queries):
    api.post(URL, [entry(33, *[full_ro(f"R{i:03d}", member_id=f"E{i % 7}") for i in range(120)])])
    api.get(LIST)  # warm-up: records the key's use
    # key, key's shops, page, team prefetch
    with django_assert_max_num_queries(4):
        page = api.get(f"{LIST}?limit=100").json()
    assert len(page["items"]) == 100


def test_ro_number_with_a_newline_is_readable(api, shop):
    api.post(URL, [entry(33, ro("A\nB"))])
    assert get_ro(api, 33, "A%0AB")["repair_number"] == "A\nB"
    assert_problem(api.get(f"{LIST}/A%0AC"), 404, "repair_order_not_found", None, "repair_number")
    assert_problem(api.get(f"{LIST}/A%00B"), 404, "repair_order_not_found", None, "repair_number")


def test_pages_split_cleanly_between_ros_changed_in_the_same_instant(api, shop):
    api.post(URL, [entry(33, *[ro(f"R{i:02d}") for i in range(25)])])
    # One PATCH gives all 25 the very same updated_at: the id breaks the tie.
    api.patch(URL, [entry(33, *[ro(f"R{i:02d}", status="Hold") for i in range(25)])])
    assert RepairOrder.objects.values("updated_at").distinct().count() == 1
    seen = _all_pages(api, limit=7)
    assert sorted(seen) == [f"R{i:02d}" for i in range(25)]
    assert len(seen) == 25


def test_every_field_of_the_read_shape_is_required_in_the_openapi_document(api, shop, client):
    """One shape for typed clients (SPEC §4): the document requires every field
    (null allowed), and an RO with nothing set reads back with exactly those."""
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    out = schemas["RepairOrderOut"]
    assert set(out["required"]) == set(out["properties"])
    for nested in ("VehicleOut", "CustomerOut", "InsuranceOut", "TeamMemberOut"):
        assert set(schemas[nested]["required"]) == set(schemas[nested]["properties"]), nested
    assert {"type": "null"} in out["properties"]["scheduled_delivery"]["anyOf"]

    api.post(URL, [entry(33, ro("BARE", repair_team=[{"id": "E9"}]))])
    readback = get_ro(api, 33, "BARE")
    assert set(readback) == set(out["properties"])
    for group, schema in (
        ("vehicle", "VehicleOut"),
        ("customer", "CustomerOut"),
        ("insurance", "InsuranceOut"),
    ):
        assert readback[group] == dict.fromkeys(schemas[schema]["properties"])
    assert readback["repair_team"] == [{"id": "E9", "first_name": None, "last_name": None, "title": None}]


def test_the_field_map_covers_every_batch_field_of_the_schemas():
    """repairs/batch/fields.py is the one map between API fields and columns:
    the In and Out schemas name the same fields, and each maps to a column."""
    from integrations.api.schemas import RepairOrderBaseIn, RepairOrderOut
    from repairs.batch.fields import COLUMNS, GROUPS, SCALARS

    batch_fields = set(SCALARS) | set(GROUPS)
    assert set(RepairOrderBaseIn.model_fields) - {"repair_number", "repair_team"} == batch_fields - {"status"}
    assert batch_fields < set(RepairOrderOut.model_fields)
    for group, names in GROUPS.items():
        nested_in = RepairOrderBaseIn.model_fields[group].annotation.__args__[0]
        assert (
            set(nested_in.model_fields)
            == set(names)
            == set(RepairOrderOut.model_fields[group].annotation.model_fields)
        )
    assert COLUMNS <= {f.name for f in RepairOrder._meta.get_fields()}
