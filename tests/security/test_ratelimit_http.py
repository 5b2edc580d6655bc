"""Rate limits per API key over HTTP: 429 `rate_limited`, Retry-After, X-RateLimit-* headers."""

from integrations.models import ApiKey
from repairs.models import RepairOrder
from tests.api.conftest import URL, entry, ro


def test_every_api_response_carries_the_rate_limit_headers(api, shop):
    ok = api.get("/api/v1/stages")
    refused = api.post(URL, [entry(99, ro("R1"))])
    for response in (ok, refused):
        assert response["X-RateLimit-Limit"] == "600"
        assert int(response["X-RateLimit-Reset"]) > 0
    assert int(ok["X-RateLimit-Remaining"]) == 599
    assert int(refused["X-RateLimit-Remaining"]) == 598


def test_over_the_keys_limit_answers_429_and_saves_nothing(api, shop):
    ApiKey.objects.update(rate_limit_per_minute=2)
    assert [api.get("/api/v1/stages")["X-RateLimit-Remaining"] for _ in range(2)] == ["1", "0"]
    response = api.post(URL, [entry(33, ro("R1"))])
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response["X-RateLimit-Remaining"] == "0"
    assert not RepairOrder.objects.exists()


def test_limits_are_per_key(api, client, shop):
    from tests.factories import make_api_key

    ApiKey.objects.update(rate_limit_per_minute=1)
    api.get("/api/v1/stages")
    assert api.get("/api/v1/stages").status_code == 429
    other = make_api_key(shop)
    assert client.get("/api/v1/stages", headers={"X-API-Key": other}).status_code == 200
