"""Idempotency-Key on POST and PATCH /api/v1/repair-orders (SPEC §3)."""

import json
from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.utils import timezone

from integrations.models import IdempotencyRecord
from repairs.models import RepairOrder
from tests.api.conftest import URL, entry, full_ro, ro, snapshot
from tests.factories import make_api_key, make_shop
from tests.security.parallel import in_parallel


def test_post_retry_with_same_key_replays_first_answer_and_changes_nothing(api, shop):
    body = [entry(33, full_ro("R1"))]
    first = api.post(URL, body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    before = snapshot()
    again = api.post(URL, body, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert "Idempotent-Replayed" not in first
    assert snapshot() == before


def test_patch_retry_with_same_key_does_not_bump_version_again(api, shop):
    api.post(URL, [entry(33, ro("R1"))])
    body = [entry(33, ro("R1", customer={"phone_number": "5550001111"}))]
    assert api.patch(URL, body, headers={"Idempotency-Key": "p-1"}).status_code == 200
    version = RepairOrder.objects.get(repair_number="R1").version
    again = api.patch(URL, body, headers={"Idempotency-Key": "p-1"})
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert RepairOrder.objects.get(repair_number="R1").version == version


def test_same_key_with_a_different_body_is_refused_and_saves_nothing(api, shop):
    api.post(URL, [entry(33, ro("R1"))], headers={"Idempotency-Key": "k-2"})
    before = snapshot()
    response = api.post(URL, [entry(33, ro("R2"))], headers={"Idempotency-Key": "k-2"})
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert [e["code"] for e in response.json()["errors"]] == ["idempotency_key_reused"]
    assert snapshot() == before


def test_a_refused_batch_is_replayed_as_refused(api, shop):
    body = [entry(99, ro("R1"))]  # unknown shop
    first = api.post(URL, body, headers={"Idempotency-Key": "k-3"})
    assert first.status_code == 422
    again = api.post(URL, body, headers={"Idempotency-Key": "k-3"})
    assert (again.status_code, again["Idempotent-Replayed"]) == (422, "true")
    assert again["Content-Type"] == "application/problem+json"
    assert again.json()["errors"] == first.json()["errors"]


def test_the_same_key_on_post_and_patch_are_different_requests(api, shop):
    assert api.post(URL, [entry(33, ro("R1"))], headers={"Idempotency-Key": "same"}).status_code == 201
    response = api.patch(URL, [entry(33, ro("R1", status="Hold"))], headers={"Idempotency-Key": "same"})
    assert response.status_code == 200 and "Idempotent-Replayed" not in response
    assert RepairOrder.objects.get(repair_number="R1").status == "Hold"


def test_keys_are_scoped_to_the_api_key(api, client, shop):
    api.post(URL, [entry(33, ro("R1"))], headers={"Idempotency-Key": "shared"})
    other = make_api_key(shop, name="second source")
    response = client.post(
        URL,
        json.dumps([entry(33, ro("R2"))]),
        content_type="application/json",
        headers={"Authorization": f"Bearer {other}", "Idempotency-Key": "shared"},
    )
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert RepairOrder.objects.filter(repair_number="R2").exists()


def test_a_key_older_than_24_hours_is_processed_anew(api, shop):
    api.post(URL, [entry(33, ro("R1"))], headers={"Idempotency-Key": "old"})
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=24, minutes=1))
    response = api.post(URL, [entry(33, ro("R2"))], headers={"Idempotency-Key": "old"})
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert RepairOrder.objects.filter(repair_number="R2").exists()


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
def test_malformed_idempotency_key_is_a_validation_error(api, shop, key):
    response = api.post(URL, [entry(33, ro("R1"))], headers={"Idempotency-Key": key})
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "validation_error"
    assert response.json()["errors"][0]["parameter"] == "Idempotency-Key"
    assert not RepairOrder.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_create_once_and_replay_the_rest(live_server):
    shop = make_shop(id=33)
    key = make_api_key(shop)
    body = json.dumps([entry(33, full_ro("RACE-1"))])
    answers = in_parallel(
        8,
        lambda i: requests.post(
            live_server.url + URL,
            data=body,
            timeout=30,
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Idempotency-Key": "race",
            },
        ),
    )
    assert sorted(a.status_code for a in answers) == [201] * 8
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 7
    assert len({a.text for a in answers}) == 1
    assert RepairOrder.objects.filter(repair_number="RACE-1").count() == 1


def test_purge_drops_only_records_past_24_hours(api, shop):
    from integrations.tasks import idempotency_records_purge

    api.post(URL, [entry(33, ro("R1"))], headers={"Idempotency-Key": "old"})
    api.post(URL, [entry(33, ro("R2"))], headers={"Idempotency-Key": "new"})
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    assert idempotency_records_purge() == 1  # run in-process: the task body is the service call
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_the_records_are_vacuumed_after_each_purge_whatever_the_tables_size(db):
    """Migration 0008_idempotency_autovacuum: no 20 % scale factor, so a purge does not walk the
    dead rows of the purges before it at 10,000 shops (docs/operations.md)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'integrations_idempotencyrecord'")
        (options,) = cursor.fetchone()
    assert set(options) >= {"autovacuum_vacuum_scale_factor=0", "autovacuum_vacuum_threshold=1000"}
