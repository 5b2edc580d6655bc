import pytest

from integrations.obs.schedule import delay_after_attempt, max_attempts, retry_delays

HOUR = 3600.0


def test_production_schedule_retries_for_at_least_six_hours():
    # The defaults of shopboard/settings.py, which production does not change.
    delays = retry_delays(base_seconds=30, max_delay_seconds=3600, window_seconds=6 * HOUR)
    assert sum(delays) >= 6 * HOUR
    # Not absurdly longer either: the last delay is what crossed the line.
    assert sum(delays) - delays[-1] < 6 * HOUR


def test_production_schedule_is_exponential_then_capped():
    delays = retry_delays(base_seconds=30, max_delay_seconds=3600, window_seconds=6 * HOUR)
    assert delays[:7] == [30, 60, 120, 240, 480, 960, 1920]
    assert all(d == 3600 for d in delays[7:])
    assert len(delays) == 12  # 13 attempts in all


def test_configured_schedule_reads_settings_and_ends(settings):
    settings.OBS_RETRY_BASE_SECONDS = 1
    settings.OBS_RETRY_MAX_DELAY_SECONDS = 4
    settings.OBS_RETRY_WINDOW_SECONDS = 10
    # 1, 2, 4, 4 → 11 s ≥ 10 s: four retries, five attempts.
    assert max_attempts() == 5
    for attempt, base in enumerate([1, 2, 4, 4], start=1):
        # Up to 10% jitter, never less than the schedule.
        assert base <= delay_after_attempt(attempt) <= base * 1.1
    assert delay_after_attempt(5) is None


@pytest.mark.parametrize("base, cap", [(0, 10), (-1, 10), (1, 0)])
def test_schedule_refuses_non_positive_delays(base, cap):
    with pytest.raises(ValueError):
        retry_delays(base_seconds=base, max_delay_seconds=cap, window_seconds=60)
