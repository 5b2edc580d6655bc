"""Tenant isolation: every board and API URL probed with another shop's ids
answers 404 (never 403, never data), and every board write needs CSRF.

The URLs come from the resolver, so a page added later is probed too."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from integrations.models import BeaconTag, Notification
from repairs.models import Person, RepairOrder
from tests.factories import add_to_team, make_api_key, make_member, make_person, make_repair_order

# Pages that belong to no shop, or to the admin/demo (their own guards).
NOT_SHOP_PAGES = re.compile(r"^(admin/|api/|accounts/|demo/|shops/$|$)")


def board_url_patterns() -> list[tuple[str, str]]:
    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern), p.name

    return [
        (route, name) for route, name in walk(get_resolver().url_patterns) if not NOT_SHOP_PAGES.match(route)
    ]


def fill(route: str, ids: dict[str, int]) -> str:
    return "/" + re.sub(r"<int:(\w+)>", lambda m: str(ids[m.group(1)]), route)


def shop_objects(shop):
    ro = make_repair_order(shop=shop, obs_event_id="EVT")
    person = make_person(shop=shop, first_name="Rosie")
    add_to_team(ro, person)
    notification = Notification.objects.create(
        repair_order=ro, obs_event_id="EVT", stage_id=1, state="failed"
    )
    BeaconTag.objects.create(shop=shop, beacon_id="TAG-1", repair_order=ro)
    return {
        "shop_id": shop.id,
        "repair_order_id": ro.id,
        "person_id": person.id,
        "notification_id": notification.id,
    }


def snapshot():
    return (
        list(RepairOrder.objects.order_by("id").values("stage_id", "version", "status")),
        list(Person.objects.order_by("id").values("title", "first_name")),
        list(Notification.objects.order_by("id").values("state")),
        list(BeaconTag.objects.order_by("id").values("beacon_id", "repair_order_id")),
    )


@pytest.fixture
def two_shops(shop, other_shop):
    return shop_objects(shop), shop_objects(other_shop)


def test_the_probe_covers_every_shop_page():
    names = {name for _, name in board_url_patterns()}
    assert {
        "board",
        "shop_settings",
        "repair_order_detail",
        "repair_order_move",
        "repair_team_add",
        "repair_team_person_update",
        "repair_team_remove",
        "obs_notification_resend",
        "beacon_pair",
    } <= names


@pytest.mark.parametrize(("route", "name"), board_url_patterns())
@pytest.mark.parametrize("method", ["get", "post"])
def test_another_shops_ids_answer_404_and_change_nothing(manager, two_shops, route, name, method):
    mine, theirs = two_shops
    client = Client()
    client.force_login(manager)  # manager of shop 33 only
    before = snapshot()
    probes = [
        theirs,  # everything of shop 44
        {**theirs, "shop_id": mine["shop_id"]},  # my shop, their objects
    ]
    for ids in probes:
        if ids["shop_id"] == mine["shop_id"] and route.count("<int:") == 1:
            continue  # my own shop page: not a cross-shop probe
        url = fill(route, ids)
        response = getattr(client, method)(
            url, {"stage_id": 7, "version": 1, "title": "X", "beacon_id": "T9"}
        )
        # 405: a POST-only page refusing a GET before looking at the shop.
        assert response.status_code in (404, 405), (url, response.status_code)
        assert b"Rosie" not in response.content
    assert snapshot() == before


@pytest.mark.parametrize(("route", "name"), board_url_patterns())
def test_every_board_write_is_refused_without_csrf(manager, two_shops, route, name):
    mine, _ = two_shops
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    before = snapshot()
    response = client.post(fill(route, mine), {"stage_id": 7, "version": 1, "title": "X", "beacon_id": "T9"})
    # 403 from the CSRF check; 405 where the page takes no POST at all.
    assert response.status_code in (403, 405), (route, response.status_code)
    assert snapshot() == before


def test_api_reads_of_another_shop_answer_404(api, two_shops):
    for path in (
        "/api/v1/shops/44/repair-orders",
        "/api/v1/shops/44/repair-orders/RO-1",
        "/api/v1/shops/99/repair-orders",
    ):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json()["errors"][0]["code"] == "shop_not_found"
    assert [s["id"] for s in api.get("/api/v1/shops").json()] == [33]


def test_api_read_of_another_shops_ro_number_is_repair_order_not_found(api, two_shops, other_shop):
    theirs = RepairOrder.objects.get(shop=other_shop)
    response = api.get(f"/api/v1/shops/33/repair-orders/{theirs.repair_number}")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "repair_order_not_found"


@pytest.mark.parametrize("path", ["/api/v1/repair-orders", "/api/v1/beacon-events"])
def test_api_writes_to_another_shop_are_shop_not_found_and_save_nothing(api, two_shops, path):
    before = snapshot()
    if path.endswith("beacon-events"):
        body = [{"shop_id": 44, "beacon_id": "TAG-1", "zone_id": "z", "seen_at": "2030-01-01T00:00:00Z"}]
    else:
        body = [{"shop_id": 44, "repair_orders": [{"repair_number": "X1"}]}]
    response = api.post(path, body)
    assert response.status_code == 422
    assert [(e["code"], e["pointer"]) for e in response.json()["errors"]] == [
        ("shop_not_found", "/0/shop_id")
    ]
    assert snapshot() == before


def test_a_key_of_both_shops_reaches_both(client, two_shops, shop, other_shop):
    key = make_api_key(shop, other_shop)
    response = client.get("/api/v1/shops", headers={"X-API-Key": key})
    assert [s["id"] for s in response.json()] == [33, 44]


def test_a_viewer_of_another_shop_is_not_a_member_here(two_shops, other_shop):
    outsider = make_member(shop=other_shop, role="manager", username="someone-else")
    client = Client()
    client.force_login(outsider)
    assert client.get("/shops/33/board/").status_code == 404
