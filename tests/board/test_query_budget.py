"""The board costs a fixed number of queries, however many ROs a shop has."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from repairs.models import Person, RepairOrder, RepairTeamMember
from tests.board.conftest import POLL, signed_in

BUDGET = 8


def load_shop(shop, count: int) -> None:
    """`count` Active ROs spread over the 15 stages, each with a two-person team."""
    now = timezone.now()
    people = Person.objects.bulk_create(
        [
            Person(shop=shop, external_id=f"P{i}", first_name=f"First{i}", last_name=f"Last{i}", title="Tech")
            for i in range(12)
        ]
    )
    ros = RepairOrder.objects.bulk_create(
        [
            RepairOrder(
                shop=shop,
                repair_number=f"Q{i:05d}",
                stage_id=(i % 15) + 1,
                stage_entered_at=now,
                status="Active",
                scheduled_delivery=now,
                rental_car=bool(i % 2),
                total_estimated_hours=Decimal("12.5"),
                vehicle_year=2020,
                vehicle_make="Honda",
                vehicle_model="Civic",
                vehicle_color="Blue",
                customer_first_name="Frodo",
                customer_last_name="Baggins",
                insurance_name="USAA",
            )
            for i in range(count)
        ]
    )
    RepairTeamMember.objects.bulk_create(
        [
            RepairTeamMember(repair_order=ro, person=people[(i + k) % 12], position=k)
            for i, ro in enumerate(ros)
            for k in range(2)
        ]
    )


def _count_queries(client, headers=None) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/shops/33/board/", headers=headers or {})
    assert response.status_code == 200
    return len(queries), response.content.decode()


@pytest.mark.parametrize("headers", [None, POLL], ids=["page", "poll"])
def test_board_query_count_is_fixed_and_within_budget(manager, shop, headers):
    client = signed_in(manager)
    # A manager's first page of the minute also reads the shop's disabled webhook
    # endpoints (one query, then cached: integrations/webhooks/selectors.py).
    cold, _ = _count_queries(client, headers)
    load_shop(shop, 50)
    small, html = _count_queries(client, headers)
    assert len(re.findall(r'<article class="card', html)) == 50
    RepairOrder.objects.filter(shop=shop).delete()
    Person.objects.filter(shop=shop).delete()
    load_shop(shop, 500)
    large, html = _count_queries(client, headers)
    assert len(re.findall(r'<article class="card', html)) == 500
    assert len(re.findall(r'class="avatar"', html)) == 1000
    assert small == large
    assert large <= BUDGET
    assert cold <= small + 1
