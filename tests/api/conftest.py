"""Helpers for the batch and read API tests: payload builders, a snapshot of
everything a batch can write, and problem-document assertions."""

import json
from pathlib import Path

import pytest

from repairs.models import Person, RepairOrder, RepairTeamMember, StageChange
from tests import factories
from tests.conftest import ApiClient

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"
URL = "/api/v1/repair-orders"


def sample(name: str):
    """A copy of the SPEC's samples/ (kept in the repo so CI needs nothing else)."""
    return json.loads((SAMPLES / name).read_text())


def ro(number: str, **fields) -> dict:
    return {"repair_number": number, **fields}


def entry(shop_id, *ros) -> dict:
    return {"shop_id": shop_id, "repair_orders": list(ros)}


def full_ro(number: str, member_id: str = "E1", **overrides) -> dict:
    """An RO with every field set, like the SPEC sample."""
    body = {
        "repair_number": number,
        "scheduled_arrival": "2020-03-11T00:00:00Z",
        "scheduled_complete": "2020-03-12T00:00:00Z",
        "scheduled_delivery": "2020-03-13T00:00:00Z",
        "obs_event_id": "783A61C0-DDAA-4B11-A758475C419B5927",
        "rental_car": True,
        "total_estimated_hours": 48,
        "status": "Active",
        "vehicle": {
            "year": 2000,
            "make": "Chevrolet",
            "model": "Silverado",
            "color": "Red",
            "vin": "1GCEK19T2YE123456",
            "license_plate": "HOB-1",
        },
        "customer": {
            "first_name": "Bilbo",
            "last_name": "Baggins",
            "email": "test@email.com",
            "phone_number": "5553337777",
        },
        "insurance": {"name": "State Farm"},
        "repair_team": [
            {"id": member_id, "first_name": "Meriadoc", "last_name": "Brandybuck", "title": "Estimator"}
        ],
    }
    body.update(overrides)
    return body


# An RO read back with nothing set but its number (SPEC §4: every field present, null when unset).
UNSET_RO = {
    "scheduled_arrival": None,
    "scheduled_complete": None,
    "scheduled_delivery": None,
    "obs_event_id": None,
    "rental_car": None,
    "total_estimated_hours": None,
    "status": "Active",
    "vehicle": {"year": None, "make": None, "model": None, "color": None, "vin": None, "license_plate": None},
    "customer": {"first_name": None, "last_name": None, "email": None, "phone_number": None},
    "insurance": {"name": None},
    "repair_team": [],
}
UNSET_MEMBER = {"first_name": None, "last_name": None, "title": None}


def as_read(sent: dict) -> dict:
    """How an RO POSTed as `sent` (and not changed since) reads back, without the server's fields."""
    read = {**UNSET_RO, **sent}
    for group in ("vehicle", "customer", "insurance"):
        read[group] = {**UNSET_RO[group], **(sent.get(group) or {})}
    read["repair_team"] = [member_as_read(m) for m in sent.get("repair_team") or ()]
    return read


def member_as_read(sent: dict) -> dict:
    return {**UNSET_MEMBER, **sent}


def snapshot() -> dict:
    """Everything a batch writes, to prove a refused batch wrote nothing."""
    return {
        "repair_orders": list(RepairOrder.objects.order_by("id").values()),
        "people": list(Person.objects.order_by("id").values()),
        "team": list(RepairTeamMember.objects.order_by("id").values()),
        "stage_changes": list(StageChange.objects.order_by("id").values()),
    }


def assert_problem(response, status: int, code: str, pointer=..., parameter=...) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["request_id"] == response["X-Request-ID"]
    matching = [e for e in body["errors"] if e["code"] == code]
    assert matching, body
    if pointer is not ...:
        assert pointer in [e["pointer"] for e in matching], body
    if parameter is not ...:
        assert parameter in [e.get("parameter") for e in matching], body
    return body


@pytest.fixture
def client_for(client):
    """An API client whose key reaches the given shops."""

    def make(*shops, name="test key"):
        return ApiClient(client, factories.make_api_key(*shops, name=name))

    return make


def get_ro(api, shop_id, number):
    response = api.get(f"/api/v1/shops/{shop_id}/repair-orders/{number}")
    assert response.status_code == 200, response.content
    return response.json()
