"""GET …/stage-changes (SPEC §4) and GET …/flow (SPEC §8) over HTTP with an API key."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from repairs.flow import FlowPeriod, flow_figures
from repairs.models import RepairOrder
from repairs.services import repair_order_move
from tests import factories
from tests.api.conftest import URL, assert_problem, entry, ro
from tests.flow.history import make_history

FLOW = "/api/v1/shops/33/flow"


def test_stage_changes_oldest_first_with_creation_first(api, shop, manager):
    api.post(URL, [entry(33, ro("2024/17 B"))])
    created = RepairOrder.objects.get(shop=shop, repair_number="2024/17 B")
    repair_order_move(repair_order_id=created.id, stage_id=2, source="board", user=manager)
    repair_order_move(repair_order_id=created.id, stage_id=7, source="beacon")

    response = api.get("/api/v1/shops/33/repair-orders/2024%2F17%20B/stage-changes")

    assert response.status_code == 200, response.content
    history = response.json()
    assert [(c["from_stage_id"], c["to_stage_id"], c["source"], c["changed_by"]) for c in history] == [
        (None, 1, "api", None),
        (1, 2, "board", "manager"),
        (2, 7, "beacon", None),
    ]
    times = [c["changed_at"] for c in history]
    assert times == sorted(times) and all(t.endswith("Z") for t in times)


@pytest.mark.parametrize(
    ("path", "code", "parameter"),
    [
        ("/api/v1/shops/44/repair-orders/X-1/stage-changes", "shop_not_found", "shop_id"),
        ("/api/v1/shops/99/repair-orders/X-1/stage-changes", "shop_not_found", "shop_id"),
        ("/api/v1/shops/33/repair-orders/NOPE/stage-changes", "repair_order_not_found", "repair_number"),
        ("/api/v1/shops/33/repair-orders/X-1/stage-changes", "repair_order_not_found", "repair_number"),
        ("/api/v1/shops/44/flow", "shop_not_found", "shop_id"),
        ("/api/v1/shops/99/flow", "shop_not_found", "shop_id"),
    ],
)
def test_another_keys_shop_or_an_unknown_ro_is_404(api, shop, other_shop, path, code, parameter):
    # X-1 exists, but in shop 44, which the key does not reach.
    make_history(other_shop, [(1, "2026-04-01 08:00"), (2, "2026-04-02 08:00")], repair_number="X-1")
    assert_problem(api.get(path), 404, code, None, parameter)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("from=yesterday", "from"),
        ("from=2026-4-1", "from"),
        ("to=2026-02-30", "to"),
        ("to=2026-04-01T00:00:00Z", "to"),
        ("from=", "from"),
        ("from=2026-04-02&to=2026-04-01", "from"),
        ("from=2025-01-01&to=2026-02-05", "to"),  # 401 days, both ends included
        ("to=10000-01-01", "to"),
    ],
)
def test_bad_periods_are_422_naming_the_parameter(api, shop, query, parameter):
    problem = assert_problem(api.get(f"{FLOW}?{query}"), 422, "validation_error", None, parameter)
    assert len(problem["errors"]) == 1


def test_a_period_of_400_days_is_allowed(api, shop):
    response = api.get(f"{FLOW}?from=2025-01-01&to=2026-02-04")
    assert response.status_code == 200
    assert len(response.json()["wip"]) == 400


def test_default_period_is_the_last_30_days_in_the_shop_zone(api, shop):
    shop.time_zone = "Pacific/Kiritimati"  # UTC+14: its today is often not UTC's
    shop.save()
    today = timezone.now().astimezone(ZoneInfo("Pacific/Kiritimati")).date()

    body = api.get(FLOW).json()

    assert (body["from"], body["to"], body["time_zone"]) == (
        (today - timedelta(days=29)).isoformat(),
        today.isoformat(),
        "Pacific/Kiritimati",
    )
    assert [d["date"] for d in body["wip"]][-1] == today.isoformat()
    only_to = api.get(f"{FLOW}?to=2026-04-30").json()
    assert (only_to["from"], only_to["to"]) == ("2026-04-01", "2026-04-30")


def test_flow_answer_has_spec_shape_and_the_selectors_numbers(api, shop):
    shop.time_zone = "America/Chicago"
    shop.save()
    make_history(shop, [(1, "2026-04-01 08:00"), (2, "2026-04-02 08:00"), (9, "2026-04-03 08:00"),
                        (15, "2026-04-06 08:00")], promised="2026-04-05 17:00")  # fmt: skip
    make_history(shop, [(1, "2026-04-01 09:00"), (2, "2026-04-03 08:00")])

    response = api.get(f"{FLOW}?from=2026-04-01&to=2026-04-30")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["shop_id", "from", "to", "time_zone", "delivered", "cycle_time_seconds", "on_time",
                          "stages", "throughput", "wip"]  # fmt: skip
    assert body["delivered"] == 1
    assert body["cycle_time_seconds"] == {"median": 4 * 86400.0, "p90": 4 * 86400.0, "mean": 4 * 86400.0}
    assert body["on_time"] == {"promised": 1, "on_time": 0, "rate": 0.0}
    assert [s["stage_id"] for s in body["stages"]] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 14]
    assert [w["week"] for w in body["throughput"]] == [
        "2026-W14",
        "2026-W15",
        "2026-W16",
        "2026-W17",
        "2026-W18",
    ]
    assert body["wip"][-1] == {
        "date": "2026-04-30",
        "stages": {**{str(s): 0 for s in range(1, 16)}, "2": 1, "15": 1},
    }
    period = FlowPeriod(shop_id=33, time_zone="America/Chicago", date_from=date(2026, 4, 1),
                        date_to=date(2026, 4, 30), now=timezone.now())  # fmt: skip
    assert body == flow_figures(period)


def test_flow_and_stage_changes_are_in_the_openapi_document(api):
    schema = api.get("/api/v1/openapi.json").json()
    flow = schema["paths"]["/api/v1/shops/{shop_id}/flow"]["get"]
    assert {p["name"] for p in flow["parameters"]} >= {"shop_id", "from", "to"}
    assert {"200", "404", "422"} <= set(flow["responses"])
    assert "application/problem+json" in flow["responses"]["422"]["content"]
    history = schema["paths"]["/api/v1/shops/{shop_id}/repair-orders/{repair_number}/stage-changes"]["get"]
    assert {"200", "404"} <= set(history["responses"])


def test_flow_counts_against_the_keys_rate_limit(api, shop):
    response = api.get(FLOW)
    assert response.status_code == 200
    assert int(response["X-RateLimit-Remaining"]) < int(response["X-RateLimit-Limit"])


@pytest.mark.django_db
def test_flow_without_a_key_is_401(client):
    factories.make_shop(id=33)
    assert_problem(client.get(FLOW), 401, "unauthorized")
