"""Races between concurrent writers are closed in the database."""

import threading
import time

import psycopg
import pytest
from django.db import connection, connections

from repairs.models import RepairOrder
from tests import factories
from tests.api.conftest import URL, assert_problem, entry, ro
from tests.conftest import ApiClient


def _raw_connection():
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
    )


def _wait_for_lock_waiter(raw, timeout=10.0):
    deadline = time.monotonic() + timeout
    with raw.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the batch never waited on the other transaction")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_number_taken_by_a_concurrent_writer_is_a_422_not_a_500(client):
    shop = factories.make_shop(id=33)
    api = ApiClient(client, factories.make_api_key(shop))
    other_writer = _raw_connection()
    try:
        # Another writer has inserted RACE-1 but not committed: our check
        # cannot see it, and our insert must wait on the unique index.
        other_writer.execute(
            "INSERT INTO repairs_repairorder (shop_id, repair_number, stage_id, stage_entered_at, status, version,"
            " created_at, updated_at) VALUES (33, 'RACE-1', 1, now(), 'Active', 1, now(), now())"
        )
        result = {}

        def post():
            try:
                result["response"] = api.post(URL, [entry(33, ro("OURS"), ro("RACE-1"))])
            finally:
                connections.close_all()

        thread = threading.Thread(target=post)
        thread.start()
        lock_watch = _raw_connection()
        lock_watch.autocommit = True
        try:
            _wait_for_lock_waiter(lock_watch)
        finally:
            lock_watch.close()
        other_writer.commit()
        thread.join(timeout=30)
    finally:
        other_writer.close()

    assert_problem(result["response"], 422, "duplicate_repair_number", "/0/repair_orders/1/repair_number")
    assert list(RepairOrder.objects.values_list("repair_number", flat=True)) == ["RACE-1"]
