"""seed_demo's API key works across runs, and is replaced (saying so) when it no longer can."""

import io
import re

import pytest
from django.core.management import call_command
from django.utils import timezone

from integrations.models import ApiKey

KEY_LINE = re.compile(r"API key \(shops 33, 44\): (\S+)")


@pytest.fixture
def key_file(settings, tmp_path):
    settings.DEMO_API_KEY_FILE = tmp_path / "var" / "demo-api-key"
    return settings.DEMO_API_KEY_FILE


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def key_works(client, key: str) -> bool:
    response = client.get("/api/v1/shops/44/repair-orders", headers={"Authorization": f"Bearer {key}"})
    return response.status_code == 200


def test_the_demo_key_of_the_last_run_keeps_working(db, client, key_file):
    first = seed()
    key = KEY_LINE.search(first).group(1)
    assert "a new key" in first
    assert key_file.read_text().strip() == key and key_file.stat().st_mode & 0o077 == 0
    second = seed()
    assert KEY_LINE.search(second).group(1) == key
    assert "the same key as the last run" in second
    assert key_works(client, key)
    assert ApiKey.objects.filter(name="demo").count() == 1


def test_a_revoked_demo_key_is_replaced_and_the_output_says_so(db, client, key_file):
    old = KEY_LINE.search(seed()).group(1)
    ApiKey.objects.filter(name="demo").update(revoked_at=timezone.now())
    again = seed()
    new = KEY_LINE.search(again).group(1)
    assert new != old and "any earlier demo key no longer works" in again
    assert key_works(client, new) and not key_works(client, old)
