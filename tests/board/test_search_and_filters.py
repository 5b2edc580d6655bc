"""The board's search and quick filters, the API's `q` (one definition), and the column limit."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from repairs import selectors
from repairs.models import RepairOrder
from tests import factories
from tests.board.conftest import POLL, signed_in


def _cards(html: str) -> list[str]:
    """RO numbers of the cards drawn, in page order."""
    return re.findall(r'class="card__number" id="ro-\d+-number"[^>]*>([^<]+)</a>', html)


@pytest.fixture
def cars(shop):
    """Four cars that differ in every searched field."""
    now = timezone.now()
    meriadoc = factories.make_person(shop=shop, first_name="Meriadoc", last_name="Brandybuck")
    rosie = factories.make_person(shop=shop, first_name="Rosie", last_name="Cotton")
    a = factories.make_repair_order(
        shop=shop,
        repair_number="606471",
        customer_first_name="Bilbo",
        customer_last_name="Baggins",
        customer_email="bilbo@bagend.example",
        customer_phone_number="555-0101",
        vehicle_make="Chevrolet",
        vehicle_model="Silverado",
        vehicle_vin="1GCEK19T5YE123456",
        vehicle_license_plate="HOBBIT1",
        insurance_name="State Farm",
        rental_car=True,
        scheduled_delivery=now - timedelta(days=1),
    )
    b = factories.make_repair_order(
        shop=shop,
        repair_number="606472",
        stage_id=7,
        customer_first_name="Lobelia",
        customer_last_name="Sackville",
        customer_email="lobelia@example.com",
        customer_phone_number="555-0202",
        vehicle_make="Honda",
        vehicle_model="Civic",
        vehicle_license_plate="SPOONS",
        insurance_name="USAA",
        rental_car=False,
        scheduled_delivery=now + timedelta(days=3),
    )
    c = factories.make_repair_order(
        shop=shop,
        repair_number="71000",
        stage_id=7,
        vehicle_make="Ford",
        vehicle_model="F-150",
        insurance_name="state farm",
    )
    d = factories.make_repair_order(
        shop=shop, repair_number="CLOSED-1", status="Closed", vehicle_make="Chevrolet"
    )
    factories.add_to_team(a, meriadoc)
    factories.add_to_team(b, rosie, meriadoc)
    return {"a": a, "b": b, "c": c, "d": d, "meriadoc": meriadoc, "rosie": rosie}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("606471", {"606471"}),
        ("6064", {"606471", "606472"}),
        ("baggins", {"606471"}),
        ("LOBELIA", {"606472"}),
        ("bagend", {"606471"}),
        ("555-0202", {"606472"}),
        ("silverado", {"606471"}),
        ("ford", {"71000"}),
        ("YE123456", {"606471"}),
        ("hobbit1", {"606471"}),
        ("usaa", {"606472"}),
        ("state farm", {"606471", "71000"}),
        ("rosie", {"606472"}),
        ("brandybuck", {"606471", "606472"}),
        ("brandybuck civic", {"606472"}),
        ("nobody-has-this", set()),
    ],
)
def test_one_search_serves_the_board_and_the_api(manager, api, cars, q, expected):
    board = signed_in(manager).get("/shops/33/board/", {"q": q}).content.decode()
    assert set(_cards(board)) == expected
    items = api.get("/api/v1/shops/33/repair-orders", {"q": q}).json()["items"]
    # The API lists every status; the board only Active ROs.
    api_numbers = {item["repair_number"] for item in items}
    assert api_numbers - {"CLOSED-1"} == expected
    if "chevrolet" in q.lower():
        assert "CLOSED-1" in api_numbers


def test_api_q_finds_a_closed_ro_and_combines_with_other_filters(api, cars):
    numbers = {
        i["repair_number"]
        for i in api.get("/api/v1/shops/33/repair-orders", {"q": "chevrolet"}).json()["items"]
    }
    assert numbers == {"606471", "CLOSED-1"}
    both = api.get("/api/v1/shops/33/repair-orders", {"q": "chevrolet", "status": "active"}).json()["items"]
    assert [i["repair_number"] for i in both] == ["606471"]


@pytest.mark.parametrize("q", ["x" * 101, "a\x00b"])
def test_api_q_too_long_or_with_nul_is_422_naming_q(api, shop, q):
    response = api.get("/api/v1/shops/33/repair-orders", {"q": q})
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == "q"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"overdue": "1"}, {"606471"}),
        ({"rental": "1"}, {"606471"}),
        ({"insurer": "STATE FARM"}, {"606471", "71000"}),
        ({"insurer": "USAA", "rental": "1"}, set()),
    ],
)
def test_quick_filters(manager, cars, params, expected):
    html = signed_in(manager).get("/shops/33/board/", params).content.decode()
    assert set(_cards(html)) == expected


def test_team_member_filter(manager, cars):
    html = signed_in(manager).get("/shops/33/board/", {"member": cars["rosie"].id}).content.decode()
    assert set(_cards(html)) == {"606472"}


def test_counts_say_how_many_of_how_many(manager, cars):
    html = signed_in(manager).get("/shops/33/board/", {"q": "606"}).content.decode()
    assert "<strong>2</strong> of 3 cars" in html
    assert '<span id="count-stage-7" class="column__count">1</span>' in html
    whole = signed_in(manager).get("/shops/33/board/").content.decode()
    assert "<strong>3</strong> cars" in whole and " of 3" not in whole


def test_the_poll_keeps_the_filter_and_its_own_etag(manager, cars):
    client = signed_in(manager)
    page = client.get("/shops/33/board/", {"q": "baggins"}).content.decode()
    # The board's catch-up asks with the filter it shows.
    assert 'data-changes-url="/shops/33/board/changes/?q=baggins"' in page
    filtered = client.get("/shops/33/board/?q=baggins", headers=POLL)
    whole = client.get("/shops/33/board/", headers=POLL)
    assert filtered["ETag"] != whole["ETag"]
    assert _cards(filtered.content.decode()) == ["606471"]
    assert len(_cards(whole.content.decode())) == 3
    # Unchanged and filtered: 304 for the filtered board's own ETag.
    again = client.get("/shops/33/board/?q=baggins", headers={**POLL, "If-None-Match": filtered["ETag"]})
    assert again.status_code == 304


def test_insurer_and_team_member_choices_are_on_the_page(manager, cars):
    html = signed_in(manager).get("/shops/33/board/").content.decode()
    insurers = re.search(r'<select name="insurer">(.*?)</select>', html).group(1)
    # One choice per insurer whatever the letter case, Active cars only.
    assert re.findall(r"<option value=\"([^\"]*)\"", insurers) == ["", "State Farm", "USAA"]
    assert f'<option value="{cars["rosie"].id}">Rosie Cotton</option>' in html


def test_a_bad_filter_value_shows_the_whole_board(manager, cars):
    response = signed_in(manager).get("/shops/33/board/", {"member": "x"})
    assert response.status_code == 200
    assert len(_cards(response.content.decode())) == 3


def test_a_column_draws_at_most_the_limit_and_says_how_many_more(manager, shop):
    limit = selectors.COLUMN_CARD_LIMIT
    now = timezone.now()
    RepairOrder.objects.bulk_create(
        [
            RepairOrder(
                shop=shop,
                repair_number=f"B{i:05d}",
                stage_id=7,
                stage_entered_at=now,
                status="Active",
                scheduled_delivery=now + timedelta(hours=i),
            )
            for i in range(limit + 1240)
        ]
    )
    factories.make_repair_order(shop=shop, repair_number="ONE", stage_id=2)
    html = signed_in(manager).get("/shops/33/board/").content.decode()
    numbers = _cards(html)
    assert len(numbers) == limit + 1
    # Most urgent first: the first `limit` deliveries of the stage are drawn.
    assert [n for n in numbers if n.startswith("B")] == [f"B{i:05d}" for i in range(limit)]
    assert "+ 1,240 more — search to find one" in html
    assert f'<span id="count-stage-7" class="column__count">{limit + 1240}</span>' in html
    # Any car is found by the search, beyond the limit too.
    found = signed_in(manager).get("/shops/33/board/", {"q": "B01300"}).content.decode()
    assert _cards(found) == ["B01300"]


def test_board_response_is_not_stored_so_back_shows_the_board_as_it_is(manager, cars):
    response = signed_in(manager).get("/shops/33/board/")
    assert "no-store" in response["Cache-Control"]


def test_a_stale_move_answers_its_card_and_the_counts_under_the_page_filter(manager, cars):
    a = cars["a"]
    RepairOrder.objects.filter(pk=a.pk).update(version=5)
    response = signed_in(manager).post(
        f"/shops/33/ros/{a.id}/move/?q=baggins", {"stage_id": 7, "version": 1}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert _cards(html) == ["606471"]
    # Stage 7 holds two cars, neither a Baggins: the filtered board counts 0 there.
    assert '<span id="count-stage-7" class="column__count" hx-swap-oob="true">0</span>' in html
    assert '<span id="count-stage-1" class="column__count" hx-swap-oob="true">1</span>' in html
    assert "<strong>1</strong> of 3 cars" in html


def test_the_search_index_is_per_shop_and_on_the_expression_the_search_compiles(shop, cars):
    """Migration 0009_shop_indexes: one GIN index led by the shop id, so PostgreSQL looks a word up
    among the shop's ROs inside the index and the cost follows the shop, not the database
    (docs/bench.md "Scale"). It must be on the very expression the search compiles, or it is
    never used: with nothing else able to answer a LIKE on that text, the plan must name it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_indexdef('ro_shop_search_trgm_idx'::regclass)")
        (definition,) = cursor.fetchone()
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'repairs_repairorder'")
        indexes = {name for (name,) in cursor.fetchall()}
        by_text = RepairOrder.objects.alias(search_text=selectors.repair_order_search_text()).filter(
            search_text__icontains="silverado"
        )
        sql, params = by_text.values("id").query.sql_with_params()
        # A test database is small enough to read whole, or walk a btree whole: only bitmap scans,
        # which need an index that answers the condition.
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert " USING gin (shop_id, upper(" in definition
    assert "ro_search_trgm_idx" not in indexes  # the whole database's trigrams, replaced
    assert "Bitmap Index Scan on ro_shop_search_trgm_idx" in plan, plan
    assert list(by_text.values_list("repair_number", flat=True)) == ["606471"]
