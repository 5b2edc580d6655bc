"""The batch pipeline's writes (repairs/batch/), below the API: what each row
holds after a POST and a PATCH of several ROs with teams, in one shop while
another shop gets the same batch."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from repairs.batch import (
    RepairOrderInput,
    ShopBatch,
    TeamMemberInput,
    repair_orders_create,
    repair_orders_update,
)
from repairs.models import Person, RepairOrder, RepairTeamMember, StageChange
from tests import factories

SHOP, OTHER = 33, 44

FULL = {
    "status": "Active",
    "scheduled_arrival": datetime(2020, 3, 11, tzinfo=UTC),
    "scheduled_complete": None,
    "scheduled_delivery": datetime(2020, 3, 13, 17, 30, tzinfo=UTC),
    "obs_event_id": "783A61C0-DDAA-4B11-A758475C419B5927",
    "rental_car": True,
    "total_estimated_hours": Decimal("12.50"),
    "vehicle_year": 2000,
    "vehicle_make": "Chevrolet",
    "vehicle_model": "Silverado",
    "vehicle_color": "Red",
    "vehicle_vin": None,
    "vehicle_license_plate": "HOB-1",
    "customer_first_name": "Bilbo",
    "customer_last_name": "Bäggins ☃ 'quoted' \"too\"",
    "customer_email": "bilbo@example.com",
    "customer_phone_number": "5553337777",
    "insurance_name": None,
}


def _member(external_id, **fields):
    return TeamMemberInput(external_id, fields)


def _create_batch(shop_id):
    return [
        ShopBatch(
            shop_id,
            [
                RepairOrderInput(
                    "A",
                    FULL,
                    [
                        _member("P1", first_name="Meriadoc", last_name="Brandybuck", title="Estimator"),
                        _member("P2", first_name="Sam"),
                    ],
                ),
                # Fields left out take the model's defaults; a person's left-out fields keep their stored
                # value.
                RepairOrderInput(
                    "B", {"customer_phone_number": "1"}, [_member("P2", title="Gardener"), _member("P3")]
                ),
                RepairOrderInput("C", {}, None),
            ],
        )
    ]


def _update_batch(shop_id):
    return [
        ShopBatch(
            shop_id,
            [
                RepairOrderInput("A", {"customer_phone_number": "2", "vehicle_year": None}, None),
                RepairOrderInput(
                    "B",
                    {"status": "Hold", "total_estimated_hours": Decimal("7")},
                    [_member("P1", title="Boss")],
                ),
                RepairOrderInput(
                    "C", {"scheduled_delivery": datetime(2021, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)}, []
                ),
            ],
        )
    ]


def _stored(shop_id) -> dict:
    volatile = {"id", "shop_id", "created_at", "updated_at", "stage_entered_at"}
    ros = {
        ro["repair_number"]: {k: v for k, v in ro.items() if k not in volatile}
        for ro in RepairOrder.objects.filter(shop_id=shop_id).values()
    }
    people = {
        p["external_id"]: (p["first_name"], p["last_name"], p["title"])
        for p in Person.objects.filter(shop_id=shop_id).values()
    }
    teams = sorted(
        RepairTeamMember.objects.filter(repair_order__shop_id=shop_id).values_list(
            "repair_order__repair_number", "position", "person__external_id"
        )
    )
    history = sorted(
        StageChange.objects.filter(repair_order__shop_id=shop_id).values_list(
            "repair_order__repair_number", "from_stage_id", "to_stage_id", "source"
        )
    )
    return {"ros": ros, "people": people, "teams": teams, "history": history}


@pytest.fixture
def shops(shop, other_shop):
    # A person stored before the batch: fields the batch leaves out keep these values.
    for s in (shop, other_shop):
        factories.make_person(shop=s, external_id="P3", first_name="Old", last_name="Stored", title="Painter")
    return shop, other_shop


def _write(write, batch):
    # The same batch into both shops: each shop's rows are its own.
    return {shop_id: write(shop_entries=batch(shop_id)) for shop_id in (SHOP, OTHER)}


def test_create_stores_every_row_of_the_batch(shops):
    written = _write(repair_orders_create, _create_batch)

    stored = _stored(SHOP)
    assert _stored(OTHER) == stored
    assert stored["ros"]["C"]["status"] == "Active" and stored["ros"]["C"]["vehicle_make"] is None
    assert stored["ros"]["A"]["total_estimated_hours"] == Decimal("12.50")
    assert stored["ros"]["A"]["customer_last_name"] == FULL["customer_last_name"]
    assert stored["ros"]["A"]["scheduled_delivery"] == FULL["scheduled_delivery"]
    assert {number: ro["version"] for number, ro in stored["ros"].items()} == {"A": 1, "B": 1, "C": 1}
    assert stored["people"] == {
        "P1": ("Meriadoc", "Brandybuck", "Estimator"),
        "P2": ("Sam", None, "Gardener"),
        "P3": ("Old", "Stored", "Painter"),
    }
    assert stored["teams"] == [("A", 0, "P1"), ("A", 1, "P2"), ("B", 0, "P2"), ("B", 1, "P3")]
    assert stored["history"] == [("A", None, 1, "api"), ("B", None, 1, "api"), ("C", None, 1, "api")]
    for shop_id, rows in written.items():
        assert [(w.shop_id, w.repair_number, w.stage_id) for w in rows] == [(shop_id, n, 1) for n in "ABC"]
        assert [w.id for w in rows] == list(
            RepairOrder.objects.filter(shop_id=shop_id).order_by("repair_number").values_list("id", flat=True)
        )


def test_update_changes_each_ros_own_fields(shops):
    _write(repair_orders_create, _create_batch)
    _write(repair_orders_update, _update_batch)

    assert _stored(OTHER) == _stored(SHOP)
    ros = _stored(SHOP)["ros"]
    # Each RO changed only what it sent; every RO of the batch got version 2.
    assert (ros["A"]["customer_phone_number"], ros["A"]["vehicle_year"], ros["A"]["status"]) == (
        "2",
        None,
        "Active",
    )
    assert (ros["B"]["status"], ros["B"]["total_estimated_hours"], ros["B"]["customer_phone_number"]) == (
        "Hold",
        Decimal("7.00"),
        "1",
    )
    assert ros["C"]["scheduled_delivery"] == datetime(2021, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert ros["A"]["customer_email"] == "bilbo@example.com"
    assert {number: ro["version"] for number, ro in ros.items()} == {"A": 2, "B": 2, "C": 2}
    teams = _stored(SHOP)["teams"]
    assert teams == [("A", 0, "P1"), ("A", 1, "P2"), ("B", 0, "P1")]  # A kept, B replaced, C cleared
    assert _stored(SHOP)["people"]["P1"] == ("Meriadoc", "Brandybuck", "Boss")


def _row_version(person_id):
    # xmin: the transaction that wrote the row's current version.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT xmin::text FROM repairs_person WHERE id = %s", [person_id])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_person_named_again_unchanged_is_not_rewritten_and_a_changed_one_is(shop):
    stored = factories.make_person(
        shop=shop, external_id="P9", first_name="Old", last_name="Stored", title="Painter"
    )
    other = factories.make_person(shop=shop, external_id="P8", first_name="Rosie", title="Painter")
    before = _row_version(stored.id), _row_version(other.id)

    written = repair_orders_create(
        shop_entries=[
            ShopBatch(
                shop.id,
                [
                    # P9: the same details, some left out (kept); P8: a new title; P7: new.
                    RepairOrderInput(
                        "N1", {}, [_member("P9", first_name="Old", title="Painter"), _member("P8")]
                    ),
                    RepairOrderInput(
                        "N2", {}, [_member("P8", title="Boss"), _member("P7", first_name="Tom")]
                    ),
                ],
            )
        ]
    )

    assert _row_version(stored.id) == before[0]  # not written again
    assert _row_version(other.id) != before[1]
    people = {p.external_id: (p.first_name, p.last_name, p.title) for p in Person.objects.filter(shop=shop)}
    assert people == {
        "P9": ("Old", "Stored", "Painter"),
        "P8": ("Rosie", None, "Boss"),
        "P7": ("Tom", None, None),
    }
    teams = sorted(
        RepairTeamMember.objects.filter(repair_order_id__in=[w.id for w in written]).values_list(
            "repair_order__repair_number", "position", "person_id"
        )
    )
    p7 = Person.objects.get(shop=shop, external_id="P7").id
    assert teams == [("N1", 0, stored.id), ("N1", 1, other.id), ("N2", 0, other.id), ("N2", 1, p7)]
