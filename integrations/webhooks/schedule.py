"""When to try a failed webhook again (SPEC §9: at least 24 h, with jitter).

The shared retry policy (integrations/delivery/policy.py) with webhook
parameters from the settings and up to 20 % jitter, so the retries of many
messages spread out after an outage.
"""

from django.conf import settings

from ..delivery.policy import RetryPolicy


def webhook_retry_policy() -> RetryPolicy:
    return RetryPolicy(
        base_seconds=settings.WEBHOOKS_RETRY_BASE_SECONDS,
        max_delay_seconds=settings.WEBHOOKS_RETRY_MAX_DELAY_SECONDS,
        window_seconds=settings.WEBHOOKS_RETRY_WINDOW_SECONDS,
        jitter=0.2,
    )
