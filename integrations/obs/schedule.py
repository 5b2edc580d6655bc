"""When to try a failed OBS delivery again (SPEC §5).

Exponential backoff: base, 2×base, 4×base … each delay capped at the maximum,
until the delays add up to the retry window. The attempt after the last delay
is the last one, so a notification is retried for at least the window (6 h in
production) before it is marked failed. Settings make it small in tests.
"""

import random

from django.conf import settings


def retry_delays(*, base_seconds: float, max_delay_seconds: float, window_seconds: float) -> list[float]:
    """The waits between consecutive attempts, first to last."""
    if base_seconds <= 0 or max_delay_seconds <= 0:
        raise ValueError("Retry delays must be positive.")
    delays: list[float] = []
    total = 0.0
    delay = base_seconds
    while total < window_seconds:
        step = min(delay, max_delay_seconds)
        delays.append(step)
        total += step
        delay *= 2
    return delays


def configured_retry_delays() -> list[float]:
    return retry_delays(
        base_seconds=settings.OBS_RETRY_BASE_SECONDS,
        max_delay_seconds=settings.OBS_RETRY_MAX_DELAY_SECONDS,
        window_seconds=settings.OBS_RETRY_WINDOW_SECONDS,
    )


def max_attempts() -> int:
    return len(configured_retry_delays()) + 1


def delay_after_attempt(attempt_number: int) -> float | None:
    """Seconds to wait after failed attempt `attempt_number` (1-based), or
    None when it was the last attempt. Up to 10% random extra spreads the
    retries of many notifications after an OBS outage; it only ever adds, so
    the window still holds."""
    delays = configured_retry_delays()
    if attempt_number > len(delays):
        return None
    delay = delays[attempt_number - 1]
    return delay + random.uniform(0, delay / 10)
