"""HTTP basics of the API: keys, request ids, OpenAPI, docs, health, stray paths."""

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import ApiKey
from tests import factories
from tests.api.conftest import URL, assert_problem, entry, ro


def test_x_api_key_header_works_like_bearer(client, shop):
    key = factories.make_api_key(shop)
    response = client.get("/api/v1/shops", headers={"X-API-Key": key})
    assert response.status_code == 200
    assert response.json() == [{"id": 33, "name": "Baggins Body Shop"}]


def test_key_use_is_recorded_at_most_once_a_minute(client, shop, django_assert_num_queries):
    key = factories.make_api_key(shop)
    headers = {"Authorization": f"Bearer {key}"}
    assert ApiKey.objects.get().last_used_at is None
    client.get("/api/v1/stages", headers=headers)
    first = ApiKey.objects.get().last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=5)
    # Used again within the minute: key lookup + stages, no write.
    with django_assert_num_queries(2):
        client.get("/api/v1/stages", headers=headers)
    assert ApiKey.objects.get().last_used_at == first
    # A minute later the next request records it again.
    ApiKey.objects.update(last_used_at=first - timedelta(seconds=61))
    client.get("/api/v1/stages", headers=headers)
    assert ApiKey.objects.get().last_used_at > first


def test_revoking_a_key_stops_it_at_once(api, shop):
    assert api.get("/api/v1/stages").status_code == 200
    ApiKey.objects.update(revoked_at=timezone.now())
    assert_problem(api.get("/api/v1/stages"), 401, "unauthorized", None)


@pytest.mark.parametrize("path", ["/api/v1/stages", "/api/v1/health", "/api/v1/nope"])
def test_request_id_is_echoed(api, shop, path):
    response = api.get(path, headers={"X-Request-ID": "caller-id-123"})
    assert response["X-Request-ID"] == "caller-id-123"


def test_request_id_is_generated_and_carried_in_problems(api, shop):
    response = api.post(URL, "{")
    generated = response["X-Request-ID"]
    assert len(generated) >= 16
    assert response.json()["request_id"] == generated
    assert api.post(URL, "{")["X-Request-ID"] != generated


def test_unsafe_request_id_is_replaced(api, shop):
    response = api.get("/api/v1/stages", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response["X-Request-ID"] != "bad id\twith spaces"


def test_openapi_document_lists_the_paths_and_payloads(client, db):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    paths = document["paths"]
    assert set(paths) >= {
        "/api/v1/repair-orders",
        "/api/v1/stages",
        "/api/v1/shops",
        "/api/v1/health",
        "/api/v1/shops/{shop_id}/repair-orders",
        "/api/v1/shops/{shop_id}/repair-orders/{repair_number}",
    }
    post = paths["/api/v1/repair-orders"]["post"]
    body_schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema["items"]["$ref"] == "#/components/schemas/ShopEntryCreateIn"
    assert set(post["responses"]) >= {"201", "400", "401", "413", "422", "500"}
    assert "application/problem+json" in post["responses"]["422"]["content"]
    schemas = document["components"]["schemas"]
    # Every reference resolves.
    for ref in set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(document))):
        assert ref in schemas, ref
    assert schemas["RepairOrderCreateIn"]["additionalProperties"] is False
    assert schemas["VehicleIn"]["properties"]["year"]["anyOf"][0] == {
        "maximum": 2100,
        "minimum": 1900,
        "type": "integer",
    }
    assert {"BearerKey", "HeaderKey"} <= set(document["components"]["securitySchemes"])


def test_docs_page_is_served(client, db):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.content


def test_health_checks_the_database_without_a_key(client, db):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_wrong_method_is_a_problem_document(api, shop):
    response = api.send("PUT", URL, [entry(33, ro("A"))])
    assert_problem(response, 405, "method_not_allowed", None)
    assert set(response["Allow"].replace(" ", "").split(",")) == {"POST", "PATCH"}


def test_unknown_api_path_is_a_problem_document(api, shop):
    assert_problem(api.get("/api/v1/repair-order"), 404, "not_found", None)
