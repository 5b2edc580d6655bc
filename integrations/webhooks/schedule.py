"""When to try a failed webhook again (SPEC §9: at least 24 h, with jitter).

The same exponential schedule as OBS (integrations/obs/schedule.py, reused:
base, 2×base, … each capped, until the window is covered) with webhook
parameters, plus up to 20 % random extra so the retries of many messages
spread out after an outage. Jitter only adds, so the window still holds.
A `Retry-After` from the endpoint is honoured (within the cap) by the caller.
"""

import random

from django.conf import settings

from ..obs.schedule import retry_delays

JITTER = 0.2


def _delays() -> list[float]:
    return retry_delays(
        base_seconds=settings.WEBHOOKS_RETRY_BASE_SECONDS,
        max_delay_seconds=settings.WEBHOOKS_RETRY_MAX_DELAY_SECONDS,
        window_seconds=settings.WEBHOOKS_RETRY_WINDOW_SECONDS,
    )


def max_attempts() -> int:
    return len(_delays()) + 1


def delay_after_attempt(attempt_number: int) -> float | None:
    """Seconds to wait after failed attempt `attempt_number` (1-based), or None after the last."""
    delays = _delays()
    if attempt_number > len(delays):
        return None
    delay = delays[attempt_number - 1]
    return delay + random.uniform(0, delay * JITTER)
