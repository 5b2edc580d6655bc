"""One rule for a team member's details, whoever writes them (repairs/people.py):
a field given replaces the stored value (`null`, or a box the user emptied,
clears it); a field not given keeps it. The batch API and the board's team
editor both follow it."""

import pytest

from repairs.models import Person
from repairs.people import person_fields_merge
from tests import factories
from tests.api.conftest import URL, entry, ro
from tests.board.conftest import HTMX, signed_in

STORED = {"first_name": "Meriadoc", "last_name": "Brandybuck", "title": "Estimator"}


@pytest.fixture
def meriadoc(shop):
    return factories.make_person(shop=shop, external_id="4849843", **STORED)


def _details(person: Person) -> dict:
    person.refresh_from_db()
    return {"first_name": person.first_name, "last_name": person.last_name, "title": person.title}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, STORED),
        ({"title": "Lead"}, {**STORED, "title": "Lead"}),
        ({"title": None}, {**STORED, "title": None}),
        ({"first_name": "Merry", "last_name": None}, {**STORED, "first_name": "Merry", "last_name": None}),
    ],
    ids=["nothing-given-keeps-all", "given-replaces", "null-clears", "each-field-on-its-own"],
)
def test_the_rule(given, expected):
    assert person_fields_merge(stored=STORED, given=given) == expected
    # A new person: what is not given is not known.
    assert person_fields_merge(stored=None, given=given) == {
        name: given.get(name) for name in ("first_name", "last_name", "title")
    }


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ({"id": "4849843"}, STORED),
        ({"id": "4849843", "title": "Lead"}, {**STORED, "title": "Lead"}),
        ({"id": "4849843", "title": None, "last_name": None}, {**STORED, "title": None, "last_name": None}),
    ],
    ids=["omitted-keeps", "sent-replaces", "null-clears"],
)
def test_batch_api_follows_the_rule(api, meriadoc, member, expected):
    assert api.post(URL, [entry(33, ro("R-1", repair_team=[member]))]).status_code == 201
    assert _details(meriadoc) == expected


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        ({"first_name": "", "last_name": "", "title": ""}, STORED),
        ({"first_name": "", "last_name": " ", "title": "Lead"}, {**STORED, "title": "Lead"}),
    ],
    ids=["blank-boxes-keep", "filled-box-replaces"],
)
def test_board_add_by_employee_id_follows_the_rule(estimator, meriadoc, shop, boxes, expected):
    # The add form starts empty: a box left blank was not given.
    target = factories.make_repair_order(shop=shop, repair_number="R-1")
    response = signed_in(estimator).post(
        f"/shops/33/ros/{target.id}/team/", {"external_id": "4849843", **boxes}, headers=HTMX
    )
    assert response.status_code == 200
    assert _details(meriadoc) == expected
    assert target.team_links.get().person_id == meriadoc.id


def test_board_person_editor_clears_an_emptied_box(estimator, meriadoc, shop):
    # The editor shows the stored values: every box is given, an emptied one clears.
    target = factories.make_repair_order(shop=shop, repair_number="R-1")
    factories.add_to_team(target, meriadoc)
    response = signed_in(estimator).post(
        f"/shops/33/ros/{target.id}/team/{meriadoc.id}/",
        {"first_name": "Meriadoc", "last_name": "Brandybuck", "title": ""},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert _details(meriadoc) == {**STORED, "title": None}
