"""Fixtures of the OBS tests: a fake OBS server, a real Celery worker, an RO
that came from OBS."""

import pytest

from tests.obs.support import FAST_OBS_ENV, FakeObs, Worker, database_url_of_test_db


@pytest.fixture(scope="module")
def fake_obs_server():
    server = FakeObs()
    yield server
    server.close()


@pytest.fixture
def fake_obs(fake_obs_server):
    fake_obs_server.reset()
    yield fake_obs_server
    fake_obs_server.reset()


@pytest.fixture(scope="module")
def obs_worker(django_db_setup, fake_obs_server, tmp_path_factory):
    """One real worker (prefork, concurrency 2, embedded beat) per module,
    on the real broker, pointed at the test database and the fake OBS."""
    from django.conf import settings

    from shopboard.celery import app

    # Messages left by an earlier run name rows that no longer exist; drop them.
    app.control.purge()
    env = {
        **FAST_OBS_ENV,
        "DATABASE_URL": database_url_of_test_db(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "OBS_UPDATE_URL": fake_obs_server.url,
    }
    worker = Worker(env=env, log_dir=tmp_path_factory.mktemp("celery"))
    yield worker
    worker.stop()


@pytest.fixture
def obs_settings(settings):
    """The test process's settings matching the worker's (for in-process calls)."""
    for name, value in FAST_OBS_ENV.items():
        setattr(settings, name, type(getattr(settings, name))(value))
    return settings


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Lets a fixture see whether its test failed (to print the worker's log).
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
