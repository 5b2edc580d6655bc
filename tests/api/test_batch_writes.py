"""What the batch API writes: round trips, PATCH merging, teams, versions."""

from datetime import datetime

import pytest

from repairs.models import Person, RepairOrder, StageChange
from repairs.services import repair_order_move
from tests.api.conftest import UNSET_RO, URL, as_read, entry, full_ro, get_ro, member_as_read, ro, sample


def _without_server_fields(readback: dict) -> dict:
    server = {"shop_id", "stage_id", "stage_name", "stage_entered_at", "created_at", "updated_at", "version"}
    return {k: v for k, v in readback.items() if k not in server}


def test_sample_post_and_patch_round_trip(api, shop):
    posted = sample("post-repair-orders.json")
    response = api.post(URL, posted)
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "count": 1,
        "repair_orders": [{"shop_id": 33, "repair_number": "606471", "stage_id": 1}],
    }
    assert _without_server_fields(get_ro(api, 33, "606471")) == as_read(posted[0]["repair_orders"][0])

    patch = sample("patch-phone-number.json")
    patch[0]["repair_orders"][0]["customer"]["phone_number"] = "5550001111"
    response = api.patch(URL, patch)
    assert response.status_code == 200
    assert response.json() == {
        "count": 1,
        "repair_orders": [{"shop_id": 33, "repair_number": "606471", "stage_id": 1}],
    }
    expected = as_read(posted[0]["repair_orders"][0])
    expected["customer"]["phone_number"] = "5550001111"
    assert _without_server_fields(get_ro(api, 33, "606471")) == expected


def test_readback_has_stage_times_and_version(api, shop):
    api.post(URL, sample("post-repair-orders.json"))
    readback = get_ro(api, 33, "606471")
    assert (readback["shop_id"], readback["stage_id"], readback["stage_name"], readback["version"]) == (
        33,
        1,
        "SCHEDULED IN",
        1,
    )
    for name in ("stage_entered_at", "created_at", "updated_at"):
        assert readback[name].endswith("Z")
        datetime.fromisoformat(readback[name])
    # A JSON number, exactly as sent.
    assert readback["total_estimated_hours"] == 48 and isinstance(readback["total_estimated_hours"], int)


def test_post_without_optional_fields_is_active_with_empty_team(api, shop):
    assert api.post(URL, [entry(33, ro("MIN-1"))]).status_code == 201
    readback = get_ro(api, 33, "MIN-1")
    # Every field is there, null when not set; an empty object has each of its fields null (SPEC §4).
    assert _without_server_fields(readback) == {"repair_number": "MIN-1", **UNSET_RO}
    assert readback["vehicle"]["make"] is None and readback["repair_team"] == []


def test_new_ro_starts_in_stage_one_with_its_first_history_line(api, shop):
    api.post(URL, [entry(33, ro("H-1"))])
    change = StageChange.objects.get(repair_order__repair_number="H-1")
    assert (change.from_stage_id, change.to_stage_id, change.source, change.changed_by) == (
        None,
        1,
        "api",
        None,
    )


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2020-03-11T02:30:00+02:30", "2020-03-11T00:00:00Z"),
        ("2020-03-10T19:00:00-05:00", "2020-03-11T00:00:00Z"),
        ("2020-03-11t00:00:00.250z", "2020-03-11T00:00:00.250000Z"),
    ],
)
def test_date_times_with_offsets_are_stored_in_utc(api, shop, sent, stored):
    api.post(URL, [entry(33, ro("T-1", scheduled_delivery=sent))])
    assert get_ro(api, 33, "T-1")["scheduled_delivery"] == stored


@pytest.mark.parametrize("hours", [0, 12.5, 0.25, 9999999.99])
def test_hours_come_back_as_the_number_sent(api, shop, hours):
    api.post(URL, [entry(33, ro("H-1", total_estimated_hours=hours))])
    assert get_ro(api, 33, "H-1")["total_estimated_hours"] == hours


def test_obs_event_id_is_stored_exactly_as_given(api, shop):
    odd = "783a61c0-DDAA-4b11 A758475C419B5927 "
    api.post(URL, [entry(33, ro("O-1", obs_event_id=odd))])
    assert get_ro(api, 33, "O-1")["obs_event_id"] == odd


def test_response_lists_ros_in_request_order_across_shops(client_for, shop, other_shop):
    api = client_for(shop, other_shop)
    body = [entry(44, ro("B"), ro("A")), entry(33, ro("Z")), entry(44, ro("C"))]
    response = api.post(URL, body)
    assert response.status_code == 201
    assert response.json() == {
        "count": 4,
        "repair_orders": [
            {"shop_id": 44, "repair_number": "B", "stage_id": 1},
            {"shop_id": 44, "repair_number": "A", "stage_id": 1},
            {"shop_id": 33, "repair_number": "Z", "stage_id": 1},
            {"shop_id": 44, "repair_number": "C", "stage_id": 1},
        ],
    }
    response = api.patch(URL, [entry(33, ro("Z", status="Hold")), entry(44, ro("C"), ro("B"))])
    assert [r["repair_number"] for r in response.json()["repair_orders"]] == ["Z", "C", "B"]


def test_same_number_in_two_shops_is_two_ros(client_for, shop, other_shop):
    api = client_for(shop, other_shop)
    assert api.post(URL, [entry(33, full_ro("606471")), entry(44, full_ro("606471"))]).status_code == 201
    assert RepairOrder.objects.filter(repair_number="606471").count() == 2
    api.patch(URL, [entry(44, ro("606471", customer={"first_name": "Lobelia"}))])
    assert get_ro(api, 44, "606471")["customer"]["first_name"] == "Lobelia"
    assert get_ro(api, 33, "606471")["customer"]["first_name"] == "Bilbo"


def test_patch_merges_nested_objects_field_by_field(api, shop):
    api.post(URL, [entry(33, full_ro("M-1"))])
    before = get_ro(api, 33, "M-1")
    response = api.patch(
        URL, [entry(33, ro("M-1", customer={"phone_number": "5559990000"}, vehicle={"color": "Blue"}))]
    )
    assert response.status_code == 200
    after = get_ro(api, 33, "M-1")
    assert after["customer"] == {**before["customer"], "phone_number": "5559990000"}
    assert after["vehicle"] == {**before["vehicle"], "color": "Blue"}
    untouched = set(before) - {"customer", "vehicle", "updated_at", "version"}
    assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}
    assert after["version"] == before["version"] + 1
    assert datetime.fromisoformat(after["updated_at"]) > datetime.fromisoformat(before["updated_at"])


def test_patch_null_clears_fields_and_objects(api, shop):
    api.post(URL, [entry(33, full_ro("N-1"))])
    api.patch(
        URL,
        [
            entry(
                33, ro("N-1", scheduled_delivery=None, rental_car=None, vehicle={"vin": None}, insurance=None)
            )
        ],
    )
    after = get_ro(api, 33, "N-1")
    # Cleared fields read back as null, a cleared object as its fields null.
    assert (after["scheduled_delivery"], after["rental_car"], after["insurance"]) == (
        None,
        None,
        {"name": None},
    )
    assert after["vehicle"] == {
        "year": 2000,
        "make": "Chevrolet",
        "model": "Silverado",
        "color": "Red",
        "vin": None,
        "license_plate": "HOB-1",
    }
    stored = RepairOrder.objects.get(repair_number="N-1")
    assert (stored.scheduled_delivery, stored.vehicle_vin, stored.insurance_name) == (None, None, None)


def test_patch_repair_team_replaces_the_team_in_order(api, shop):
    team = [{"id": "A", "first_name": "Ann"}, {"id": "B", "first_name": "Bob"}]
    api.post(URL, [entry(33, ro("T-1", repair_team=team))])
    response = api.patch(
        URL, [entry(33, ro("T-1", repair_team=[{"id": "C", "first_name": "Cat"}, {"id": "A"}]))]
    )
    assert response.status_code == 200
    after = get_ro(api, 33, "T-1")
    assert after["repair_team"] == [
        member_as_read({"id": "C", "first_name": "Cat"}),
        member_as_read({"id": "A", "first_name": "Ann"}),
    ]
    assert after["version"] == 2
    # B left the RO but is still one of the shop's people.
    assert Person.objects.filter(shop=shop, external_id="B").exists()


@pytest.mark.parametrize("cleared", [[], None], ids=["empty-array", "null"])
def test_patch_empty_team_clears_it(api, shop, cleared):
    api.post(URL, [entry(33, ro("T-1", repair_team=[{"id": "A"}, {"id": "B"}]))])
    api.patch(URL, [entry(33, ro("T-1", repair_team=cleared))])
    assert get_ro(api, 33, "T-1")["repair_team"] == []


def test_patch_without_team_keeps_it(api, shop):
    api.post(URL, [entry(33, ro("T-1", repair_team=[{"id": "A", "title": "Painter"}]))])
    api.patch(URL, [entry(33, ro("T-1", status="Hold"))])
    assert get_ro(api, 33, "T-1")["repair_team"] == [member_as_read({"id": "A", "title": "Painter"})]


def test_person_shared_by_two_ros_follows_the_latest_request(api, shop):
    api.post(
        URL, [entry(33, ro("R-1", repair_team=[{"id": "P", "first_name": "Merry", "title": "Estimator"}]))]
    )
    api.post(
        URL, [entry(33, ro("R-2", repair_team=[{"id": "P", "first_name": "Meriadoc", "last_name": "B"}]))]
    )
    # One person; the later name wins on both ROs, the title not sent is kept.
    expected = [{"id": "P", "first_name": "Meriadoc", "last_name": "B", "title": "Estimator"}]
    assert get_ro(api, 33, "R-1")["repair_team"] == expected
    assert get_ro(api, 33, "R-2")["repair_team"] == expected
    assert Person.objects.filter(shop=shop, external_id="P").count() == 1

    # Within one request the later RO wins; null clears.
    api.patch(
        URL,
        [
            entry(
                33,
                ro("R-1", repair_team=[{"id": "P", "first_name": "X"}]),
                ro("R-2", repair_team=[{"id": "P", "first_name": "Y", "title": None}]),
            )
        ],
    )
    assert get_ro(api, 33, "R-1")["repair_team"] == [
        {"id": "P", "first_name": "Y", "last_name": "B", "title": None}
    ]


def test_same_person_id_in_two_shops_is_two_people(client_for, shop, other_shop):
    api = client_for(shop, other_shop)
    api.post(
        URL,
        [
            entry(33, ro("A", repair_team=[{"id": "P", "first_name": "Sam"}])),
            entry(44, ro("A", repair_team=[{"id": "P", "first_name": "Lotho"}])),
        ],
    )
    assert get_ro(api, 33, "A")["repair_team"] == [member_as_read({"id": "P", "first_name": "Sam"})]
    assert get_ro(api, 44, "A")["repair_team"] == [member_as_read({"id": "P", "first_name": "Lotho"})]


def test_batch_never_changes_the_stage(api, shop):
    api.post(URL, [entry(33, full_ro("S-1"))])
    stored = RepairOrder.objects.get(repair_number="S-1")
    repair_order_move(repair_order_id=stored.id, stage_id=7, source="board")
    response = api.patch(URL, [entry(33, ro("S-1", status="Active", vehicle={"color": "Blue"}))])
    assert response.json()["repair_orders"] == [{"shop_id": 33, "repair_number": "S-1", "stage_id": 7}]
    readback = get_ro(api, 33, "S-1")
    assert (readback["stage_id"], readback["stage_name"], readback["version"]) == (7, "BODY", 3)


def test_every_ro_of_a_patch_gets_a_new_version_and_updated_at(api, shop):
    api.post(URL, [entry(33, full_ro("A"), ro("B"), ro("C"))])
    before = {n: get_ro(api, 33, n) for n in "ABC"}
    same = full_ro("A")
    same["scheduled_arrival"] = "2020-03-10T19:00:00-05:00"  # the same instant
    api.patch(URL, [entry(33, same, ro("B", insurance={"name": "GEICO"}), ro("C"))])
    for number in "ABC":
        after = get_ro(api, 33, number)
        assert after["version"] == before[number]["version"] + 1
        assert datetime.fromisoformat(after["updated_at"]) > datetime.fromisoformat(
            before[number]["updated_at"]
        )
    assert _without_server_fields(get_ro(api, 33, "A")) == _without_server_fields(before["A"])
    assert get_ro(api, 33, "C")["created_at"] == before["C"]["created_at"]
