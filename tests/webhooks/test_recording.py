"""A move's webhook messages, recorded in its transaction: their bodies are
the RO as the read API shows it (its team in the API's order, members with
fields unset included), and the team is read with the endpoints, in the
statement a move pays with or without them (integrations/webhooks/selectors.py)."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.webhooks.models import WebhookEndpoint, WebhookMessage
from integrations.webhooks.services import endpoint_create
from repairs.services import repair_order_move
from tests import factories


@pytest.fixture
def endpoints(shop):
    return [
        endpoint_create(shop_id=shop.id, url=f"https://hooks.example.com/{i}", events=["*"])[0]
        for i in range(3)
    ]


def _move(ro, stage_id):
    ro.refresh_from_db()
    with CaptureQueriesContext(connection) as queries:
        repair_order_move(repair_order_id=ro.id, stage_id=stage_id, source="board")
    return len(queries)


@pytest.mark.parametrize("team", ["three", "nobody"])
def test_a_moves_bodies_are_the_ro_as_read_with_its_team_in_order(api, shop, endpoints, team):
    ro = factories.make_repair_order(shop=shop)
    if team == "three":
        unnamed = factories.make_person(shop=shop, external_id="T-1")  # every name field unset
        sam = factories.make_person(shop=shop, external_id="T-2", first_name="Sam", title="Tech")
        ann = factories.make_person(shop=shop, external_id="T-3", first_name="Ann", last_name="Lee")
        factories.add_to_team(ro, ann, unnamed, sam)  # positions not in the people's order

    repair_order_move(repair_order_id=ro.id, stage_id=4, source="board")

    messages = WebhookMessage.objects.filter(repair_order=ro).order_by("id")
    assert sorted(m.endpoint_id for m in messages) == sorted(e.id for e in endpoints)
    assert len({m.body for m in messages}) == 1  # one body, the same bytes to every endpoint
    body = json.loads(messages[0].body)
    read = api.get(f"/api/v1/shops/{shop.id}/repair-orders/{ro.repair_number}").json()
    assert body["type"] == "repair_order.stage_changed"
    assert body["data"] == read | {"from_stage_id": 1, "to_stage_id": 4, "source": "board"}
    expected = (
        [
            {"id": "T-3", "first_name": "Ann", "last_name": "Lee", "title": None},
            {"id": "T-1", "first_name": None, "last_name": None, "title": None},
            {"id": "T-2", "first_name": "Sam", "last_name": None, "title": "Tech"},
        ]
        if team == "three"
        else []
    )
    assert body["data"]["repair_team"] == expected


def test_a_move_with_endpoints_pays_one_statement_more_than_without_the_insert(shop, endpoints):
    ro = factories.make_repair_order(shop=shop)
    factories.add_to_team(ro, factories.make_person(shop=shop, external_id="T-9"))
    with_endpoints = _move(ro, 2)
    assert WebhookMessage.objects.filter(repair_order=ro).count() == 3
    WebhookEndpoint.objects.filter(shop=shop).update(enabled=False)
    without = _move(ro, 3)
    assert WebhookMessage.objects.filter(repair_order=ro).count() == 3
    # The endpoint look-up is paid either way (and reads the team only when an endpoint
    # listens); the messages' INSERT is the one statement the endpoints add.
    assert with_endpoints == without + 1


def test_a_moves_messages_are_stored_as_any_new_message(shop, endpoints):
    ro = factories.make_repair_order(shop=shop)
    repair_order_move(repair_order_id=ro.id, stage_id=5, source="board")
    messages = list(WebhookMessage.objects.filter(repair_order=ro).order_by("id"))
    assert [m.endpoint_id for m in messages] == sorted(e.id for e in endpoints)
    assert len({m.webhook_id for m in messages}) == 3
    for m in messages:
        assert m.destination == "webhook" and m.state == WebhookMessage.State.PENDING
        assert m.webhook_id.startswith("msg_") and len(m.webhook_id) == 36
        assert m.attempt_count == 0 and m.last_error == "" and m.delivered_at is None
        assert m.created_at == m.updated_at == m.next_attempt_at is not None
        assert m.stage_change_id is None and m.event_type == "repair_order.stage_changed"
