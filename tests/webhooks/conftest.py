"""Fixtures of the webhook tests: a receiver, a real Celery worker."""

import pytest

from tests.obs.support import FAST_OBS_ENV, Worker, database_url_of_test_db
from tests.webhooks.support import FAST_WEBHOOKS_ENV, Receiver


@pytest.fixture(scope="module")
def receiver_server():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def receiver(receiver_server):
    receiver_server.reset()
    yield receiver_server
    receiver_server.reset()


def start_worker(
    receiver_server, log_dir, *, pool: str = "prefork", concurrency: int = 2, **env: str
) -> Worker:
    """A real worker (prefork, concurrency 2, embedded beat) on the real broker,
    on the test database, with the fast webhook settings (and `env` over them)."""
    from django.conf import settings

    from shopboard.celery import app

    # Messages left by an earlier module name rows that no longer exist.
    app.control.purge()
    return Worker(
        env={
            **FAST_OBS_ENV,
            **FAST_WEBHOOKS_ENV,
            "DATABASE_URL": database_url_of_test_db(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            # OBS updates of these tests go to the receiver too (another path).
            "OBS_UPDATE_URL": receiver_server.url_for("/obs"),
            **env,
        },
        log_dir=log_dir,
        pool=pool,
        concurrency=concurrency,
    )


@pytest.fixture(scope="module")
def webhooks_worker(django_db_setup, receiver_server, tmp_path_factory):
    worker = start_worker(receiver_server, tmp_path_factory.mktemp("celery"))
    yield worker
    worker.stop()


@pytest.fixture
def webhooks_settings(settings):
    """The test process's settings matching the worker's (for in-process calls)."""
    for name, value in FAST_WEBHOOKS_ENV.items():
        current = getattr(settings, name)
        setattr(settings, name, value == "1" if isinstance(current, bool) else type(current)(value))
    return settings


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
