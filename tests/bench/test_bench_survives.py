"""A busy machine does not kill the benchmark: a server that cannot get
ready is reported, not crashed on, and leaves no process behind; a section
that fails is recorded with its reason while the others still run."""

import pytest
import requests

from bench import __main__ as bench_main
from bench import harness, report


@pytest.mark.parametrize(
    "database_url, health_timeout, reason",
    [
        # Every health check times out (a slow machine): never a ReadTimeout out of the bench.
        (None, 0.000_001, "health check: "),
        # The server answers, but never healthy: its database is gone.
        ("postgres://nobody@127.0.0.1:1/gone", 10.0, "health answered 5"),
    ],
)
def test_a_server_that_never_gets_ready_is_reported_and_its_processes_stopped(
    database_url, health_timeout, reason
):
    server = harness.Server(
        database_url or harness.bench_database_url(),
        workers=2,
        startup_seconds=8,
        health_timeout=health_timeout,
    )
    with pytest.raises(RuntimeError, match=reason):
        server.__enter__()
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
