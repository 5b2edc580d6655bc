"""Real parallel requests against a live server on the real PostgreSQL."""

import json

import pytest
import requests

from repairs.models import Person, RepairOrder
from tests.factories import make_api_key, make_shop
from tests.security.parallel import in_parallel

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/v1/repair-orders"


@pytest.fixture
def shop_and_key():
    shop = make_shop(id=33)
    return shop, make_api_key(shop)


def call(live_server, key, method, body):
    return requests.request(
        method,
        live_server.url + URL,
        data=json.dumps(body),
        timeout=60,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )


def test_fifty_simultaneous_posts_of_one_number_create_exactly_one(live_server, shop_and_key):
    _, key = shop_and_key
    body = [{"shop_id": 33, "repair_orders": [{"repair_number": "SAME-1"}]}]
    answers = in_parallel(50, lambda i: call(live_server, key, "POST", body))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [422] * 49
    for answer in answers:
        if answer.status_code == 422:
            assert [e["code"] for e in answer.json()["errors"]] == ["duplicate_repair_number"]
            assert answer.json()["errors"][0]["pointer"] == "/0/repair_orders/0/repair_number"
    assert RepairOrder.objects.filter(repair_number="SAME-1").count() == 1


def test_concurrent_patches_of_one_ro_lose_no_update(live_server, shop_and_key):
    _, key = shop_and_key
    assert call(live_server, key, "POST", [{"shop_id": 33, "repair_orders": [{"repair_number": "P-1"}]}]).ok
    # Each PATCH changes a different field: all must survive.
    changes = [
        {"customer": {"phone_number": "5550000001"}},
        {"customer": {"email": "new@example.com"}},
        {"vehicle": {"make": "Ford"}},
        {"vehicle": {"color": "Teal"}},
        {"insurance": {"name": "GEICO"}},
        {"rental_car": True},
        {"total_estimated_hours": 12.5},
        {"obs_event_id": "EVT-1"},
        {"status": "Active"},
        {"scheduled_delivery": "2030-01-02T03:04:05Z"},
    ]
    answers = in_parallel(
        len(changes),
        lambda i: call(
            live_server,
            key,
            "PATCH",
            [{"shop_id": 33, "repair_orders": [{"repair_number": "P-1", **changes[i]}]}],
        ),
    )
    assert [a.status_code for a in answers] == [200] * len(changes)
    ro = RepairOrder.objects.get(repair_number="P-1")
    assert (ro.customer_phone_number, ro.customer_email) == ("5550000001", "new@example.com")
    assert (ro.vehicle_make, ro.vehicle_color, ro.insurance_name) == ("Ford", "Teal", "GEICO")
    assert (ro.rental_car, float(ro.total_estimated_hours), ro.obs_event_id) == (True, 12.5, "EVT-1")
    assert ro.version == 1 + len(changes)


def test_concurrent_creates_of_one_new_team_member_all_succeed(live_server, shop_and_key):
    _, key = shop_and_key
    member = {"id": "NEW-7", "first_name": "Hamfast", "last_name": "Gamgee", "title": "Painter"}
    answers = in_parallel(
        12,
        lambda i: call(
            live_server,
            key,
            "POST",
            [{"shop_id": 33, "repair_orders": [{"repair_number": f"T-{i}", "repair_team": [member]}]}],
        ),
    )
    assert [a.status_code for a in answers] == [201] * 12
    person = Person.objects.get(shop_id=33, external_id="NEW-7")
    assert person.repair_orders.count() == 12


def test_concurrent_board_moves_with_one_version_let_exactly_one_win(live_server, shop_and_key):
    from django.test import Client

    from repairs.models import StageChange
    from tests.factories import make_member, make_repair_order

    shop, _ = shop_and_key
    ro = make_repair_order(shop=shop)
    sessions = []
    for i in range(10):  # ten managers, each with a signed-in browser session
        client = Client()
        client.force_login(make_member(shop=shop, role="manager", username=f"m{i}"))
        session = requests.Session()
        session.cookies.update({k: v.value for k, v in client.cookies.items()})
        page = session.get(f"{live_server.url}/shops/33/board/", timeout=30).text
        token = page.split('hx-headers=\'{"X-CSRFToken": "')[1].split('"')[0]
        sessions.append((session, token))

    def move(i):
        session, token = sessions[i]
        return session.post(
            f"{live_server.url}/shops/33/ros/{ro.id}/move/",
            data={"stage_id": 2 + i, "version": 1},
            timeout=60,
            headers={"X-CSRFToken": token, "HX-Request": "true", "Referer": live_server.url + "/"},
        )

    answers = in_parallel(10, move)
    assert sorted(a.status_code for a in answers) == [200] + [409] * 9
    ro.refresh_from_db()
    winner = next(i for i, a in enumerate(answers) if a.status_code == 200)
    assert (ro.stage_id, ro.version) == (2 + winner, 2)
    assert StageChange.objects.filter(repair_order=ro, source="board").count() == 1
