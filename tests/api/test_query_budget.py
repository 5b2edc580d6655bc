"""A batch costs the same number of SQL queries for 1 RO as for 500 across 5 shops."""

import os
import time

from django.db import connection
from django.test.utils import CaptureQueriesContext

from repairs.models import RepairOrder, RepairTeamMember
from tests import factories
from tests.api.conftest import URL, entry, full_ro, ro


def _batch(shop_ids, per_shop, **overrides):
    return [
        entry(
            shop_id,
            *[full_ro(f"{shop_id}-{i}", member_id=f"E{i % 10}", **overrides) for i in range(per_shop)],
        )
        for shop_id in shop_ids
    ]


def _patch(shop_ids, per_shop):
    # Changes a field and replaces the team of every RO.
    return [
        entry(
            shop_id,
            *[
                ro(
                    f"{shop_id}-{i}",
                    customer={"phone_number": "5550001111"},
                    repair_team=[{"id": f"F{i % 10}", "first_name": "New"}],
                )
                for i in range(per_shop)
            ],
        )
        for shop_id in shop_ids
    ]


def _measure(api, method, body):
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = api.send(method, URL, body)
        elapsed = time.perf_counter() - started
    if os.environ.get("SHOW_QUERIES"):
        print("\n".join(q["sql"][:150] for q in queries.captured_queries))
    assert response.status_code in (200, 201), response.content[:1000]
    return len(queries), elapsed


def test_batch_query_count_is_the_same_for_1_and_500_ros(client_for, shop, other_shop):
    shops = [shop, other_shop] + [factories.make_shop(id=i) for i in (55, 66, 77)]
    api = client_for(*shops)
    api.get("/api/v1/stages")  # the key's last_used_at is written once a minute; not in the measure
    shop_ids = [s.id for s in shops]

    post_one, _ = _measure(api, "POST", [entry(33, full_ro("ONE"))])
    post_many, post_seconds = _measure(api, "POST", _batch(shop_ids, per_shop=100))
    patch_one, _ = _measure(
        api,
        "PATCH",
        [
            entry(
                33,
                ro(
                    "ONE",
                    customer={"phone_number": "5550001111"},
                    repair_team=[{"id": "F0", "first_name": "N"}],
                ),
            )
        ],
    )
    patch_many, patch_seconds = _measure(api, "PATCH", _patch(shop_ids, per_shop=100))

    print(f"\nPOST  1 RO: {post_one} queries; 500 ROs / 5 shops: {post_many} queries in {post_seconds:.2f}s")
    print(f"PATCH 1 RO: {patch_one} queries; 500 ROs / 5 shops: {patch_many} queries in {patch_seconds:.2f}s")
    assert post_one == post_many
    assert patch_one == patch_many
    # 11 for the batch itself, +1: which webhook endpoints of these shops listen (none here),
    # +1: the board versions of the batch's shops, their cards stamped (repairs.live), one
    # statement whatever the number of shops.
    assert post_many <= 13 and patch_many <= 13

    assert RepairOrder.objects.count() == 501
    assert RepairOrder.objects.filter(customer_phone_number="5550001111", version=2).count() == 501
    assert RepairTeamMember.objects.filter(person__first_name__in=["New", "N"]).count() == 501
