"""Beacon input that used to answer 500 (issue 14): NUL in the ids, a
5,000-digit shop id, on the API and in the board's pairing form. Each is
refused with its problem, and nothing is moved or paired."""

import pytest

from integrations.models import BeaconTag
from repairs.models import StageChange
from tests import factories
from tests.api.conftest import assert_problem
from tests.beacons.test_beacon_events_api import URL, event, floor  # noqa: F401 (fixture)
from tests.beacons.test_beacon_pairing import pair_url

HUGE = "9" * 5000


def raw_event(shop_id: str) -> bytes:
    return (
        f'[{{"shop_id": {shop_id}, "beacon_id": "TAG-A", "zone_id": "booth-1", '
        f'"seen_at": "2026-01-01T00:00:00Z"}}]'
    ).encode()


# (id, body, status, code, pointer)
CASES = [
    ("nul-in-beacon-id", [event("TAG\x00A", "booth-1")], 422, "validation_error", "/0/beacon_id"),
    ("nul-in-zone-id", [event("TAG-A", "booth\x001")], 422, "validation_error", "/0/zone_id"),
    ("zero-width-beacon-id", [event("TAG-A\u200b", "booth-1")], 422, "validation_error", "/0/beacon_id"),
    ("blank-zone-id", [event("TAG-A", "  ")], 422, "validation_error", "/0/zone_id"),
    ("huge-shop-id", raw_event(HUGE), 422, "validation_error", "/0/shop_id"),
    ("huge-negative-shop-id", raw_event("-" + HUGE), 422, "validation_error", "/0/shop_id"),
    ("duplicate-key", raw_event('33, "shop_id": 33'), 422, "validation_error", "/0/shop_id"),
]


@pytest.mark.parametrize("body, status, code, pointer", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_beacon_input_is_refused_and_moves_nothing(api, floor, body, status, code, pointer):  # noqa: F811
    changes = StageChange.objects.count()
    assert_problem(api.post(URL, body), status, code, pointer)
    assert StageChange.objects.count() == changes
    floor[0].refresh_from_db()
    assert floor[0].stage_id == 7


@pytest.mark.parametrize(
    "beacon_id, message",
    [
        ("TAG\x00A", "U+0000"),
        ("TAG-\u200b42", "U+200B"),
        ("TAG-\u202e42", "U+202E"),
    ],
)
def test_pairing_form_refuses_an_unusable_tag_id(client, shop, manager, beacon_id, message):
    repair_order = factories.make_repair_order(shop=shop)
    client.force_login(manager)
    response = client.post(pair_url(shop.id, repair_order.id), {"beacon_id": beacon_id})
    assert response.status_code == 422
    html = response.content.decode()
    assert 'class="form-error"' in html and message in html and "invisible or control characters" in html
    assert not BeaconTag.objects.exists()
