"""When to try a failed OBS delivery again (SPEC §5: at least 6 h).

The shared retry policy (integrations/delivery/policy.py) with OBS's
parameters from the settings, which tests make small, and 10 % jitter.
"""

from django.conf import settings

from ..delivery.policy import RetryPolicy, retry_delays

__all__ = [
    "configured_retry_delays",
    "delay_after_attempt",
    "max_attempts",
    "obs_retry_policy",
    "retry_delays",
]


def obs_retry_policy() -> RetryPolicy:
    return RetryPolicy(
        base_seconds=settings.OBS_RETRY_BASE_SECONDS,
        max_delay_seconds=settings.OBS_RETRY_MAX_DELAY_SECONDS,
        window_seconds=settings.OBS_RETRY_WINDOW_SECONDS,
        jitter=0.1,
    )


def configured_retry_delays() -> list[float]:
    return obs_retry_policy().delays()


def max_attempts() -> int:
    return obs_retry_policy().max_attempts()


def delay_after_attempt(attempt_number: int) -> float | None:
    """Seconds to wait after failed attempt `attempt_number` (1-based), or None after the last."""
    return obs_retry_policy().delay_after_attempt(attempt_number)
