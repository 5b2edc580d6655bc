"""POST /api/v1/beacon-events (SPEC §6)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import ApiKey, BeaconTag, BeaconZone, Notification
from repairs.models import StageChange
from repairs.services import repair_order_move
from tests import factories

URL = "/api/v1/beacon-events"


@pytest.fixture
def floor(shop):
    """Zones booth-1 → REFINISH (9) and detail-bay → DETAIL (11); two tagged ROs."""
    BeaconZone.objects.create(shop=shop, zone_id="booth-1", stage_id=9)
    BeaconZone.objects.create(shop=shop, zone_id="detail-bay", stage_id=11)
    a = factories.make_repair_order(shop=shop, stage_id=7, obs_event_id="783A61C0-DDAA-4B11-A758475C419B5927")
    b = factories.make_repair_order(shop=shop, stage_id=9)
    BeaconTag.objects.create(shop=shop, beacon_id="TAG-A", repair_order=a)
    BeaconTag.objects.create(shop=shop, beacon_id="TAG-B", repair_order=b)
    BeaconTag.objects.create(shop=shop, beacon_id="TAG-SPARE")  # not paired
    return a, b


def event(beacon_id, zone_id, seen_at=None, shop_id=33):
    return {
        "shop_id": shop_id,
        "beacon_id": beacon_id,
        "zone_id": zone_id,
        "seen_at": (seen_at or timezone.now()).isoformat(),
    }


def test_each_event_gets_its_outcome_in_order(api, floor):
    a, b = floor
    response = api.post(
        URL,
        [
            event("TAG-A", "booth-1"),  # 7 → 9
            event("TAG-B", "booth-1"),  # already in 9
            event(
                "TAG-A", "detail-bay", timezone.now() - timedelta(hours=1)
            ),  # older than the move just made
            event("TAG-NOPE", "booth-1"),
            event("TAG-SPARE", "booth-1"),  # a tag paired with no RO is unknown too
            event("TAG-A", "no-such-zone"),
        ],
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 6
    assert [r["outcome"] for r in body["results"]] == [
        "moved", "unchanged", "stale", "unknown_beacon", "unknown_beacon", "unknown_zone",
    ]  # fmt: skip
    assert body["results"][0] == {"outcome": "moved", "repair_number": a.repair_number, "stage_id": 9}
    assert body["results"][2] == {"outcome": "stale", "repair_number": a.repair_number, "stage_id": 9}
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.stage_id, b.stage_id) == (9, 9)
    [change] = StageChange.objects.filter(repair_order=a)
    assert (change.source, change.from_stage_id, change.to_stage_id) == ("beacon", 7, 9)


def test_beacon_move_is_dated_when_the_tag_was_seen(api, floor):
    a, _ = floor
    seen_at = timezone.now() - timedelta(seconds=30)
    a.stage_entered_at = seen_at - timedelta(minutes=5)
    a.save()
    assert api.post(URL, [event("TAG-A", "booth-1", seen_at)]).json()["results"][0]["outcome"] == "moved"
    a.refresh_from_db()
    assert a.stage_entered_at == seen_at


def test_read_older_than_a_manual_move_is_stale_and_changes_nothing(api, floor, manager):
    a, _ = floor
    seen_at = timezone.now()
    repair_order_move(repair_order_id=a.id, stage_id=12, source="board", user=manager)
    response = api.post(URL, [event("TAG-A", "booth-1", seen_at - timedelta(seconds=1))])
    assert response.json()["results"][0]["outcome"] == "stale"
    a.refresh_from_db()
    assert a.stage_id == 12
    assert StageChange.objects.filter(repair_order=a).count() == 1


def test_reader_clock_ahead_does_not_date_the_move_in_the_future(api, floor):
    a, _ = floor
    api.post(URL, [event("TAG-A", "booth-1", timezone.now() + timedelta(days=1))])
    a.refresh_from_db()
    assert a.stage_id == 9
    assert a.stage_entered_at < timezone.now() + timedelta(seconds=10)


def test_beacon_move_of_an_obs_repair_order_is_reported_to_obs(api, floor):
    a, _ = floor
    api.post(URL, [event("TAG-A", "booth-1")])
    notification = Notification.objects.get(repair_order=a)
    assert (notification.obs_event_id, notification.stage_id, notification.stage_change.source) == (
        a.obs_event_id, 9, "beacon",
    )  # fmt: skip


def test_other_shops_tags_and_zones_are_unknown(api, floor, other_shop):
    """Tags and zones are per shop: shop 33's tag read by a shop-44 key's
    event is not found (the key here reaches both shops)."""
    key = factories.make_api_key(floor[0].shop, other_shop)
    BeaconZone.objects.create(shop=other_shop, zone_id="booth-9", stage_id=3)
    response = api.client.post(
        URL,
        [event("TAG-A", "booth-1", shop_id=44), event("TAG-A", "booth-9", shop_id=33)],
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert [r["outcome"] for r in response.json()["results"]] == ["unknown_beacon", "unknown_zone"]


@pytest.mark.parametrize("shop_id", [44, 99])
def test_shop_outside_the_key_or_missing_is_422_and_nothing_moves(api, floor, other_shop, shop_id):
    a, _ = floor
    response = api.post(URL, [event("TAG-A", "booth-1"), event("TAG-A", "booth-1", shop_id=shop_id)])
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"] == [
        {"code": "shop_not_found", "pointer": "/1/shop_id", "detail": f"Shop {shop_id} does not exist."}
    ]
    assert problem["status"] == 422 and problem["request_id"] == response["X-Request-ID"]
    a.refresh_from_db()
    assert a.stage_id == 7


def test_schema_and_data_problems_come_together(api, floor):
    response = api.post(
        URL,
        [
            {
                "shop_id": "33",
                "beacon_id": "TAG-A",
                "zone_id": "booth-1",
                "seen_at": timezone.now().isoformat(),
            },
            {"shop_id": 99, "beacon_id": "TAG-A", "zone_id": "booth-1", "seen_at": "yesterday"},
            {"shop_id": 33, "zone_id": "booth-1", "seen_at": "2026-01-01T10:00:00", "colour": "red"},
            {"shop_id": 33, "beacon_id": "", "zone_id": "booth-1", "seen_at": 1700000000},
        ],
    )
    assert response.status_code == 422
    found = {(e["code"], e["pointer"]) for e in response.json()["errors"]}
    assert found == {
        ("validation_error", "/0/shop_id"),
        ("validation_error", "/1/seen_at"),
        ("shop_not_found", "/1/shop_id"),
        ("validation_error", "/2/beacon_id"),
        ("validation_error", "/2/seen_at"),  # no offset
        ("unknown_field", "/2/colour"),
        ("validation_error", "/3/beacon_id"),
        ("validation_error", "/3/seen_at"),  # a number is not RFC 3339
    }
    assert "traceback" not in response.content.decode().lower()


@pytest.mark.parametrize(
    "body, status, code",
    [
        ("[", 400, "invalid_json"),
        ("[]", 422, "validation_error"),
        ("{}", 422, "validation_error"),
        ('"TAG-A"', 422, "validation_error"),
    ],
)
def test_malformed_bodies(api, floor, body, status, code):
    response = api.post(URL, body)
    assert response.status_code == status
    assert response.json()["errors"][0]["code"] == code


def test_invalid_json_names_line_and_column(api, floor):
    response = api.post(URL, '[\n{"shop_id": 33,}\n]')
    assert "line 2, column" in response.json()["errors"][0]["detail"]


def test_too_many_events_is_413(api, floor):
    response = api.post(URL, [event("TAG-A", "booth-1")] * 1001)
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer sb_nope"}, {"X-API-Key": "sb_nope"}, {"Authorization": "Basic eDp5"}],
)
def test_missing_or_unknown_key_is_401(client, floor, headers):
    response = client.post(URL, [event("TAG-A", "booth-1")], content_type="application/json", headers=headers)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "unauthorized"
    floor[0].refresh_from_db()
    assert floor[0].stage_id == 7


def test_revoked_key_is_401(api, floor):
    ApiKey.objects.update(revoked_at=timezone.now())
    assert api.post(URL, [event("TAG-A", "booth-1")]).status_code == 401


def test_x_api_key_header_works_and_records_last_use(client, floor, api_key):
    response = client.post(
        URL, [event("TAG-A", "booth-1")], content_type="application/json", headers={"X-API-Key": api_key}
    )
    assert response.status_code == 200
    assert ApiKey.objects.get().last_used_at is not None


def test_endpoint_is_in_the_openapi_document(client):
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/beacon-events"]["post"]
    assert "requestBody" in operation
