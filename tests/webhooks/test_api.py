"""The endpoints API (SPEC §9): CRUD, secret once, rotation, test, problems, scope."""

import pytest

from integrations.webhooks.models import WebhookEndpoint, WebhookMessage
from integrations.webhooks.secrets import secret_decrypt
from tests import factories
from tests.conftest import ApiClient

BASE = "/api/v1/shops/33/webhook-endpoints"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _guard_on(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False


def _create(api, **overrides):
    body = {"url": "https://hooks.example.com/in", "events": ["repair_order.created"], **overrides}
    return api.post(BASE, body)


def test_create_answers_201_with_the_secret_once(api):
    response = _create(api, description="Estimating")
    assert response.status_code == 201
    data = response.json()
    assert set(data) == {
        "id",
        "url",
        "events",
        "description",
        "enabled",
        "created_at",
        "disabled_reason",
        "secret",
    }
    assert data["secret"].startswith("whsec_")
    assert (data["url"], data["events"], data["description"], data["enabled"]) == (
        "https://hooks.example.com/in",
        ["repair_order.created"],
        "Estimating",
        True,
    )
    stored = WebhookEndpoint.objects.get(pk=data["id"])
    assert secret_decrypt(stored.secret_encrypted) == data["secret"]
    # Never again: not in a read, not in the list.
    assert "secret" not in api.get(f"{BASE}/{data['id']}").json()
    assert all("secret" not in e for e in api.get(BASE).json())


def test_list_get_patch_delete(api):
    first = _create(api).json()
    second = _create(api, events=["*"], url="https://other.example.com/x").json()
    assert [e["id"] for e in api.get(BASE).json()] == [first["id"], second["id"]]
    patched = api.patch(f"{BASE}/{first['id']}", {"enabled": False, "events": ["repair_order.stage_changed"]})
    assert patched.status_code == 200
    assert (patched.json()["enabled"], patched.json()["events"]) == (False, ["repair_order.stage_changed"])
    assert patched.json()["url"] == "https://hooks.example.com/in"
    assert (
        api.client.delete(f"{BASE}/{first['id']}", headers={"Authorization": f"Bearer {api.key}"}).status_code
        == 204
    )
    assert list(WebhookEndpoint.objects.values_list("id", flat=True)) == [second["id"]]


def test_rotate_returns_a_new_secret_and_keeps_the_old_one_for_a_day(api):
    created = _create(api).json()
    rotated = api.post(f"{BASE}/{created['id']}/rotate-secret", {})
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != created["secret"]
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert secret_decrypt(endpoint.previous_secret_encrypted) == created["secret"]
    hours = (endpoint.previous_secret_until - endpoint.updated_at).total_seconds() / 3600
    assert 23.9 < hours <= 24.0


def test_test_queues_a_test_message(api):
    created = _create(api).json()
    response = api.post(f"{BASE}/{created['id']}/test", {})
    assert response.status_code == 202
    message = WebhookMessage.objects.get()
    assert response.json() == {"webhook_id": message.webhook_id, "type": "webhook.test"}
    assert message.webhook_id.startswith("msg_")


@pytest.mark.parametrize(
    ("body", "pointer", "code"),
    [
        ({"url": "http://hooks.example.com/in", "events": ["*"]}, "/url", "validation_error"),
        ({"url": "https://10.0.0.1/in", "events": ["*"]}, "/url", "validation_error"),
        ({"url": "https://localhost/in", "events": ["*"]}, "/url", "validation_error"),
        ({"url": "https://hooks.example.com/in", "events": []}, "/events", "validation_error"),
        (
            {"url": "https://hooks.example.com/in", "events": ["repair_order.deleted"]},
            "/events/0",
            "validation_error",
        ),
        ({"events": ["*"]}, "/url", "validation_error"),
        ({"url": "https://hooks.example.com/in", "events": ["*"], "secret": "x"}, "/secret", "unknown_field"),
        ({"url": 5, "events": ["*"]}, "/url", "validation_error"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field_and_saves_nothing(api, body, pointer, code):
    response = api.post(BASE, body)
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert (code, pointer) in [(e["code"], e["pointer"]) for e in response.json()["errors"]]
    assert not WebhookEndpoint.objects.exists()


def test_invalid_json_is_400(api):
    response = api.post(BASE, "{nope")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "invalid_json"


def test_another_shops_endpoints_read_as_not_found(client, shop, other_shop):
    other_api = ApiClient(client, factories.make_api_key(other_shop))
    endpoint = other_api.post(
        "/api/v1/shops/44/webhook-endpoints", {"url": "https://hooks.example.com/in", "events": ["*"]}
    ).json()
    api = ApiClient(client, factories.make_api_key(shop))
    assert api.get("/api/v1/shops/44/webhook-endpoints").status_code == 404
    for path in ["", "/rotate-secret", "/test"]:
        url = f"/api/v1/shops/44/webhook-endpoints/{endpoint['id']}{path}"
        response = api.get(url) if not path else api.post(url, {})
        assert response.status_code == 404
        assert response.json()["errors"][0]["code"] == "shop_not_found"
    # Its id under our own shop: not found either.
    response = api.get(f"{BASE}/{endpoint['id']}")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "webhook_endpoint_not_found"
    assert secret_decrypt(WebhookEndpoint.objects.get().secret_encrypted)  # untouched


def test_without_a_key_401(client, shop):
    assert client.get(BASE).status_code == 401


def test_the_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/shops/{shop_id}/webhook-endpoints"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/shops/{shop_id}/webhook-endpoints/{endpoint_id}"])
