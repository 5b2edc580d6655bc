"""A database failure half-way through a batch leaves nothing behind.

Real transactions (not the test's wrapping one): the request's transaction
is the outermost, and a PostgreSQL trigger installed by the test fails on
the second shop, after the first shop's rows are written in that same
transaction. The trigger checks that they are there, and says so in the
error, which must reach the log but not the caller.
"""

import pytest
from django.db import connection

from tests import factories
from tests.api.conftest import URL, assert_problem, entry, full_ro, get_ro, ro, snapshot
from tests.conftest import ApiClient

# (table, event, SQL for the row's shop id, SQL true once shop 33's rows are written)
FAULTS = {
    "post-ro-insert": (
        "repairs_repairorder",
        "INSERT",
        "NEW.shop_id",
        "EXISTS (SELECT 1 FROM repairs_repairorder WHERE shop_id = 33)",
    ),
    "post-team-insert": (
        "repairs_repairteammember",
        "INSERT",
        "(SELECT shop_id FROM repairs_repairorder WHERE id = NEW.repair_order_id)",
        (
            "EXISTS (SELECT 1 FROM repairs_repairteammember m JOIN repairs_repairorder r"
            " ON r.id = m.repair_order_id WHERE r.shop_id = 33)"
        ),
    ),
    "patch-ro-update": (
        "repairs_repairorder",
        "UPDATE",
        "NEW.shop_id",
        "EXISTS (SELECT 1 FROM repairs_repairorder WHERE shop_id = 33 AND version > 1)",
    ),
}


def _install_fault(table, event, shop_sql, written_sql):
    with connection.cursor() as cursor:
        cursor.execute(f"""
            CREATE FUNCTION test_fault() RETURNS trigger AS $$
            BEGIN
                IF {shop_sql} = 44 THEN
                    IF {written_sql} THEN
                        RAISE EXCEPTION 'injected-fault-after-shop-33-was-written';
                    END IF;
                    RAISE EXCEPTION 'injected-fault-before-shop-33-was-written';
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql;
            CREATE TRIGGER test_fault BEFORE {event} ON {table} FOR EACH ROW EXECUTE FUNCTION test_fault();
        """)


def _remove_fault(table):
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS test_fault ON {table}; DROP FUNCTION IF EXISTS test_fault();")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("fault", FAULTS)
def test_failure_on_the_second_shop_rolls_back_the_first(client, caplog, fault):
    table, event, shop_sql, written_sql = FAULTS[fault]
    shop, other = factories.make_shop(id=33), factories.make_shop(id=44)
    api = ApiClient(client, factories.make_api_key(shop, other))
    method = "POST"
    body = [entry(33, full_ro("A", member_id="P1"), full_ro("B", member_id="P2")), entry(44, full_ro("C"))]
    if event == "UPDATE":
        assert api.post(URL, body).status_code == 201
        method = "PATCH"
        body = [
            entry(
                33,
                ro("A", status="Hold", repair_team=[{"id": "P9", "first_name": "New"}]),
                ro("B", customer={"email": "new@example.com"}),
            ),
            entry(44, ro("C", status="Hold")),
        ]

    _install_fault(table, event, shop_sql, written_sql)
    try:
        before = snapshot()
        response = api.send(method, URL, body)
        assert_problem(response, 500, "internal_error", None)
        assert b"injected" not in response.content
        assert "injected-fault-after-shop-33-was-written" in caplog.text
        assert snapshot() == before
    finally:
        _remove_fault(table)

    # Without the fault the very same request goes through.
    response = api.send(method, URL, body)
    assert response.status_code in (200, 201), response.content
    assert get_ro(api, 44, "C")["status"] == ("Hold" if method == "PATCH" else "Active")
