"""A busy machine does not kill the benchmark: a server that cannot get
ready is reported, not crashed on, and leaves no process behind; a section
that fails is recorded with its reason while the others still run."""

import socket

import pytest
import requests

from bench import __main__ as bench_main
from bench import harness, report


@pytest.fixture
def silent_database():
    """A port that takes connections and never answers: every health check
    hangs in the database connection, as on a machine too busy to reply."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"postgres://nobody@127.0.0.1:{listener.getsockname()[1]}/silent"


@pytest.mark.parametrize(
    "database, health_timeout, reason",
    [
        # Every health check times out: never a ReadTimeout out of the bench.
        ("silent", 0.5, "health check: ReadTimeout"),
        # The server answers, but never healthy: its database is gone.
        ("gone", 10.0, "health answered 5"),
    ],
)
def test_a_server_that_never_gets_ready_is_reported_and_its_processes_stopped(
    database, health_timeout, reason, silent_database
):
    urls = {"silent": silent_database, "gone": "postgres://nobody@127.0.0.1:1/gone"}
    server = harness.Server(urls[database], workers=2, startup_seconds=8, health_timeout=health_timeout)
    try:
        with pytest.raises(RuntimeError, match=reason):
            server.__enter__()
    finally:
        server.__exit__(None, None, None)  # were it wrongly ready, it must not outlive the test
    assert server.process is not None and server.process.poll() is not None
    assert harness.group_pids(server.process.pid) == []  # master and workers gone
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/api/v1/health", timeout=5)


def test_a_section_that_fails_is_recorded_with_its_reason_and_the_next_one_runs(capsys):
    results = {}

    def broken() -> dict:
        raise requests.ReadTimeout("Read timed out. (read timeout=2)")

    bench_main._section(results, "moves", broken)
    bench_main._section(results, "memory_board", lambda: {"cards": 2000, "peak_rss_mib": 80.0})

    assert results["moves"] == {"error": "ReadTimeout: Read timed out. (read timeout=2)"}
    assert results["memory_board"]["cards"] == 2000
    assert report.failed_sections(results) == {"moves": results["moves"]["error"]}
    assert "could not finish: ReadTimeout" in capsys.readouterr().out
    results.update(machine=MACHINE, started="now", command="python -m bench", duration_s=1)
    markdown = report.markdown(results)
    assert "**Could not finish:** ReadTimeout" in markdown
    assert "| peak_rss_mib | 80.0 |" in markdown


MACHINE = {
    "cpu": "test",
    "cores": 2,
    "memory_gib": 1.0,
    "platform": "linux",
    "load_average_at_start": 0.0,
    "python": "3.13",
    "postgresql": "18",
    "psycopg": "3",
}
