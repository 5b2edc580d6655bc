"""The rate-limit counter, on the real cache the processes share (Redis in CI)."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache

from integrations.ratelimit import WINDOW_SECONDS, rate_limit_hit

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_800_000_000.0  # a fixed instant: windows are predictable


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    yield
    cache.clear()


def test_counts_down_and_reports_exceeded_past_the_limit():
    hits = [rate_limit_hit(api_key_id=1, limit=3, now=NOW) for _ in range(4)]
    assert [h.remaining for h in hits] == [2, 1, 0, -1]
    assert [h.exceeded for h in hits] == [False, False, False, True]
    assert hits[-1].headers() == {
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(NOW // WINDOW_SECONDS + 1) * WINDOW_SECONDS),
    }


def test_keys_are_counted_separately_and_windows_reset():
    rate_limit_hit(api_key_id=1, limit=1, now=NOW)
    assert rate_limit_hit(api_key_id=1, limit=1, now=NOW).exceeded
    assert not rate_limit_hit(api_key_id=2, limit=1, now=NOW).exceeded
    assert not rate_limit_hit(api_key_id=1, limit=1, now=NOW + WINDOW_SECONDS).exceeded


@pytest.mark.skipif(
    "redis" not in settings.CACHES["default"]["BACKEND"].lower(),
    reason="sharing across processes needs the Redis cache (REDIS_URL), as in `make test`",
)
def test_counter_is_shared_across_processes():
    # Another interpreter counts 5 hits; ours sees them in the same window.
    code = (
        "import django; django.setup()\n"
        "from integrations.ratelimit import rate_limit_hit\n"
        f"[rate_limit_hit(api_key_id=7, limit=10, now={NOW}) for _ in range(5)]\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
    assert rate_limit_hit(api_key_id=7, limit=10, now=NOW).remaining == 4
