"""When to try a failed delivery again: one rule, parameters per destination.

Exponential backoff: base, 2×base, 4×base … each delay capped at the maximum,
until the delays add up to the window. The attempt after the last delay is
the last one, so a message is retried for at least the window before it is
marked failed. Up to `jitter` (a fraction) of random extra spreads the
retries of many messages after an outage; it only ever adds, so the window
still holds. A destination's `Retry-After` is honoured by the caller, within
the cap (`retry_at`).
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


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


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    max_delay_seconds: float
    window_seconds: float
    jitter: float

    def delays(self) -> list[float]:
        return retry_delays(
            base_seconds=self.base_seconds,
            max_delay_seconds=self.max_delay_seconds,
            window_seconds=self.window_seconds,
        )

    def max_attempts(self) -> int:
        return len(self.delays()) + 1

    def delay_after_attempt(self, attempt_number: int) -> float | None:
        """Seconds to wait after failed attempt `attempt_number` (1-based), or
        None when it was the last attempt."""
        delays = self.delays()
        if attempt_number > len(delays):
            return None
        delay = delays[attempt_number - 1]
        return delay + random.uniform(0, delay * self.jitter)

    def retry_at(
        self, *, attempted_at: datetime, delay: float, now: datetime, retry_after_seconds: float | None
    ) -> datetime:
        """When to try again after a failed attempt: its backoff `delay`
        reckoned from the attempt's start (attempts are never closer than
        their backoff), or later when the destination asked for a pause
        (Retry-After), within the cap."""
        at = attempted_at + timedelta(seconds=delay)
        if retry_after_seconds is not None:
            at = max(at, now + timedelta(seconds=min(retry_after_seconds, self.max_delay_seconds)))
        return at
