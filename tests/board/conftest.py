"""Fixtures of the board tests: signed-in clients, an RO with a team, htmx headers."""

import pytest
from django.test import Client

from tests import factories

HTMX = {"HX-Request": "true"}
POLL = {"HX-Request": "true", "HX-Target": "board"}


def signed_in(user, **client_kwargs) -> Client:
    client = Client(**client_kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def ro(shop):
    """An Active RO of shop 33 in stage 1 with a two-person team."""
    ro = factories.make_repair_order(
        shop=shop,
        repair_number="606471",
        vehicle_year=2000,
        vehicle_make="Chevrolet",
        vehicle_model="Silverado",
        vehicle_color="Red",
        customer_first_name="Bilbo",
        customer_last_name="Baggins",
        insurance_name="State Farm",
        rental_car=True,
        total_estimated_hours="48.50",
    )
    factories.add_to_team(
        ro,
        factories.make_person(
            shop=shop, external_id="4849843", first_name="Meriadoc", last_name="Brandybuck", title="Estimator"
        ),
        factories.make_person(
            shop=shop,
            external_id="4849844",
            first_name="Hamfast",
            last_name="Gamgee",
            title="Body Technician",
        ),
    )
    return ro


@pytest.fixture
def other_ro(other_shop):
    return factories.make_repair_order(shop=other_shop, repair_number="606471")


@pytest.fixture
def actors(manager, estimator, viewer, outsider):
    return {"manager": manager, "estimator": estimator, "viewer": viewer, "outsider": outsider}
