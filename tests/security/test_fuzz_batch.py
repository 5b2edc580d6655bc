"""Hypothesis-generated batch bodies: every answer is 2xx or a SPEC §2 problem
document, and a refused request saved nothing."""

import json
from datetime import UTC, datetime, timedelta, timezone

from django.utils.timezone import now
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from repairs.models import RepairOrder
from tests.api.conftest import URL, snapshot

SPEC_CODES = {
    "invalid_json",
    "payload_too_large",
    "validation_error",
    "unknown_field",
    "shop_not_found",
    "duplicate_repair_number",
    "repair_order_not_found",
}

text = st.one_of(
    st.text(max_size=60), st.sampled_from(["", " ", "<script>alert(1)</script>", "\u0000", "ÿ" * 51])
)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=False), text)
datetime_ish = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(["2020-03-11T00:00:00Z", "2020-03-11", "yesterday", "9999-12-31T23:59:59-23:59"]),
    scalar,
)
member = st.fixed_dictionaries(
    {"id": st.one_of(text, scalar)},
    optional={"first_name": text, "last_name": text, "title": text, "bogus": scalar},
)
repair_order = st.fixed_dictionaries(
    {"repair_number": st.one_of(st.sampled_from(["R1", "R2", "606471"]), text, scalar)},
    optional={
        "scheduled_arrival": datetime_ish,
        "scheduled_delivery": datetime_ish,
        "obs_event_id": st.one_of(text, scalar),
        "rental_car": scalar,
        "total_estimated_hours": st.one_of(
            st.decimals(allow_nan=False, allow_infinity=False, places=3), scalar
        ),
        "status": st.one_of(text, scalar),
        "vehicle": st.one_of(
            st.fixed_dictionaries({}, optional={"year": scalar, "make": text, "vin": text, "color": text}),
            scalar,
        ),
        "customer": st.one_of(
            st.fixed_dictionaries({}, optional={"email": text, "phone_number": text}), scalar
        ),
        "insurance": st.one_of(st.fixed_dictionaries({}, optional={"name": text}), scalar),
        "repair_team": st.one_of(st.lists(member, max_size=3), scalar),
        "unknown": scalar,
    },
)
shop_entry = st.fixed_dictionaries(
    {
        "shop_id": st.one_of(st.sampled_from([33, 44, 99]), scalar),
        "repair_orders": st.one_of(st.lists(repair_order, max_size=4), scalar),
    }
)
# Well-formed parts, so that a good share of the bodies is accepted and the
# success path is fuzzed too.
POOL = [f"F{i}" for i in range(8)]  # exist before every example: PATCHes find them, POSTs collide
# Good POSTs take fresh numbers, good PATCHes existing ones; a few of each
# cross over, to reach duplicate_repair_number and repair_order_not_found.
FRESH = st.text(alphabet="ABCDEFGHJK0123456789-", min_size=8, max_size=12)
NUMBERS = {  # one crossover in ten draws (one_of picks its branches evenly)
    "POST": st.one_of(*[FRESH] * 9, st.sampled_from(POOL)),
    "PATCH": st.one_of(*[st.sampled_from(POOL)] * 9, FRESH),
}
good_name = st.text(min_size=1, max_size=40).filter(lambda v: "\x00" not in v)
good_fields = st.fixed_dictionaries(
    {},
    optional={
        "scheduled_delivery": st.datetimes(
            min_value=datetime(1900, 1, 1),
            max_value=datetime(2100, 1, 1),
            timezones=st.sampled_from(
                [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]
            ),
        ).map(lambda d: d.isoformat()),
        "obs_event_id": st.text(min_size=1, max_size=100).filter(lambda v: "\x00" not in v),
        "rental_car": st.booleans(),
        "total_estimated_hours": st.integers(0, 999_999).map(lambda cents: cents / 100),
        "status": st.sampled_from(["Active", "active", "Hold", "Closed"]),
        "vehicle": st.fixed_dictionaries({}, optional={"year": st.integers(1900, 2100), "make": good_name}),
        "customer": st.fixed_dictionaries({}, optional={"first_name": good_name, "phone_number": good_name}),
        "insurance": st.fixed_dictionaries({"name": good_name}),
        "repair_team": st.lists(
            st.fixed_dictionaries({"id": st.sampled_from(["E1", "E2", "E3"])}, optional={"title": good_name}),
            max_size=3,
            unique_by=lambda m: m["id"],
        ),
    },
)


def good_ro(method: str):
    return st.tuples(NUMBERS[method], good_fields).map(lambda pair: {"repair_number": pair[0], **pair[1]})


def good_body(method: str):
    entry = st.fixed_dictionaries(
        {
            "shop_id": st.just(33),
            "repair_orders": st.lists(
                good_ro(method), min_size=1, max_size=4, unique_by=lambda r: r["repair_number"]
            ),
        }
    )
    return st.lists(entry, min_size=1, max_size=1)


def bodies(method: str):
    return st.one_of(
        good_body(method),
        st.lists(shop_entry, max_size=3),
        scalar,
        st.dictionaries(text, scalar, max_size=2),
    )


def good_bodies_seen(body) -> list:
    """The shop entries of `body` that came from the well-formed strategy."""
    return [
        e
        for e in body
        if isinstance(e, dict) and e.get("shop_id") == 33 and isinstance(e.get("repair_orders"), list)
    ]


def pool_present(shop) -> None:
    for repair_number in POOL:
        RepairOrder.objects.get_or_create(
            shop=shop, repair_number=repair_number, defaults={"stage_id": 1, "stage_entered_at": now()}
        )


def encode(value) -> str:
    return json.dumps(value, default=str)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(["POST", "PATCH"]), data=st.data())
def test_any_batch_body_gets_a_success_or_a_spec_problem_and_refusals_save_nothing(api, shop, method, data):
    body = data.draw(bodies(method), label="body")
    pool_present(shop)
    before = snapshot()
    response = api.send(method, URL, encode(body))
    assert response.status_code < 500, response.content
    event(f"{method} {response.status_code}")  # --hypothesis-show-statistics: the mix of answers
    if response.status_code == 422 and isinstance(body, list) and body and body[0] in good_bodies_seen(body):
        event(str(sorted({e["code"] for e in response.json()["errors"]})))
    if response.status_code < 300:
        assert response["Content-Type"] == "application/json"
        assert response.json()["count"] == sum(len(e["repair_orders"]) for e in body)
        return
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == response.status_code
    assert problem["errors"], problem
    assert {e["code"] for e in problem["errors"]} <= SPEC_CODES, problem
    for error in problem["errors"]:
        assert error["pointer"] is None or error["pointer"] == "" or error["pointer"].startswith("/")
    assert snapshot() == before


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(["POST", "PATCH"]), data=st.data())
def test_well_formed_batches_are_saved_as_sent(api, shop, method, data):
    body = data.draw(good_body(method), label="body")
    pool_present(shop)
    before = snapshot()
    response = api.send(method, URL, encode(body))
    event(f"{method} {response.status_code}")
    numbers = [ro["repair_number"] for ro in body[0]["repair_orders"]]
    crossover = any((n in POOL) != (method == "PATCH") for n in numbers)
    if not crossover:
        assert response.status_code == (201 if method == "POST" else 200), response.content
        assert [r["repair_number"] for r in response.json()["repair_orders"]] == numbers
        for sent in body[0]["repair_orders"]:
            stored = api.get(f"/api/v1/shops/33/repair-orders/{sent['repair_number']}").json()
            for field in ("status", "rental_car", "obs_event_id", "insurance"):
                if field in sent:
                    assert stored[field] == sent[field], field
        return
    expected = "duplicate_repair_number" if method == "POST" else "repair_order_not_found"
    assert response.status_code == 422
    assert {e["code"] for e in response.json()["errors"]} == {expected}
    assert snapshot() == before
