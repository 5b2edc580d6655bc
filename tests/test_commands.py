"""create_shop and create_api_key (SPEC §2), as an operator runs them."""

import io

import pytest
from django.core.management import CommandError, call_command

from repairs.models import Shop


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_shop_is_idempotent_for_the_same_id(db):
    assert (
        run("create_shop", "--id", "33", "--name", "Baggins Body Shop").strip()
        == "Created shop 33: Baggins Body Shop"
    )
    assert run("create_shop", "--id", "33", "--name", "Baggins Body & Paint").strip() == (
        "Updated shop 33: Baggins Body & Paint"
    )
    assert list(Shop.objects.values_list("id", "name")) == [(33, "Baggins Body & Paint")]


@pytest.mark.parametrize(
    ("args", "message"), [(["--id", "0", "--name", "X"], "--id"), (["--id", "5", "--name", " "], "--name")]
)
def test_create_shop_refuses_bad_input(db, args, message):
    with pytest.raises(CommandError, match=message):
        run("create_shop", *args)
    assert not Shop.objects.exists()


def test_create_api_key_prints_only_the_key_and_it_reaches_exactly_its_shops(client, shop, other_shop):
    Shop.objects.create(id=55, name="Third")
    key = run("create_api_key", "dms", "--shop", "33", "--shop", "55")
    assert key.count("\n") == 1 and key.strip().startswith("sb_")  # the key alone on stdout
    response = client.get("/api/v1/shops", headers={"Authorization": f"Bearer {key.strip()}"})
    assert [s["id"] for s in response.json()] == [33, 55]


def test_create_api_key_for_an_unknown_shop_creates_nothing(shop):
    from integrations.models import ApiKey

    with pytest.raises(CommandError, match="99"):
        run("create_api_key", "dms", "--shop", "33", "--shop", "99")
    assert not ApiKey.objects.exists()


def test_a_revoked_key_is_refused(api, api_key):
    from django.utils import timezone

    from integrations.models import ApiKey

    assert api.get("/api/v1/shops").status_code == 200
    ApiKey.objects.update(revoked_at=timezone.now())
    response = api.get("/api/v1/shops")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "unauthorized"
