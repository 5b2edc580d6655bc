"""The benchmark command keeps working: a small ingest run end to end (its own
PostgreSQL database, a real gunicorn) writes a report with its targets."""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest

from bench import harness

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench_env():
    # A database of its own beside the suite's, on the same server.
    url = os.environ.get("DATABASE_URL") or harness.DEFAULT_PG
    parsed = urlparse(url)
    env = dict(os.environ)
    env["BENCH_DATABASE_URL"] = urlunparse(parsed._replace(path=parsed.path + "_benchsmoke"))
    for bench_name, name in (("BENCH_REDIS_URL", "REDIS_URL"), ("BENCH_BROKER_URL", "CELERY_BROKER_URL")):
        if os.environ.get(name):
            env[bench_name] = os.environ[name]
    yield env
    # The bench leaves its database for a look afterwards; the suite does not.
    with psycopg.connect(
        urlunparse(parsed._replace(scheme="postgresql", path="/postgres")), autocommit=True
    ) as conn:
        for suffix in ("_benchsmoke", "_benchsmoke_scale"):
            conn.execute(f'DROP DATABASE IF EXISTS "{parsed.path.lstrip("/")}{suffix}" WITH (FORCE)')


def test_a_small_ingest_run_writes_benchmarks_with_its_targets(bench_env, tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--sections", "ingest,scaling", "--quick", "--ros", "50",
         "--output", str(output)],
        cwd=ROOT, env=bench_env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    report = output.read_text()
    assert "## Targets" in report and "Reproduce: `make bench`" in report
    assert "Batch POST of 1,000 ROs" in report and "Queries per batch independent of RO count" in report
    figures = json.loads(output.with_suffix(".json").read_text())
    ingest = figures["ingest"]
    assert ingest["ros"] == 50 and ingest["post_ros_per_s"] > 0 and ingest["copy_ros_per_s"] > 0
    assert ingest["post_server_ms"] > 0  # the server's own timing came back (Server-Timing `app`)
    # A fixed number of statements per batch, whatever its size.
    assert len({q for row in figures["scaling_ingest"] for q in row["queries"]}) == 1


def test_a_quick_flow_run_measures_the_flow_api_and_page_against_the_board(bench_env, tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--sections", "flow", "--quick", "--output", str(output)],
        cwd=ROOT, env=bench_env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    report = output.read_text()
    assert "6. Flow analytics" in report and "Flow API cost per delivered RO does not grow" in report
    figures = json.loads(output.with_suffix(".json").read_text())
    flow = figures["flow"]
    assert flow["flow_shop_ros"] == 1000 and flow["other_shops"] == 100
    assert flow["delivered_in_period"] > 0 and flow["ratio_api_to_board"] > 0
    # The key (up to 3) and the shop, then the settings (no JIT, sort memory) and two figure statements;
    # the page: the session (3), the settings, the figures and the cars.
    assert flow["api_queries"] <= 7 and flow["page_queries"] <= 7
    assert [row["scale"] for row in figures["scaling_flow"]] == [1, 3, 10]
    assert figures["scaling_flow"][2]["delivered"] > 9 * figures["scaling_flow"][0]["delivered"]

    # Again on the same database: the board and the history are kept, not generated again.
    again = subprocess.run(
        [sys.executable, "-m", "bench", "--sections", "flow", "--quick", "--reuse-db", "--output", str(output)],
        cwd=ROOT, env=bench_env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    assert "Reusing the flow history" in again.stdout and "Generating" not in again.stdout
    reused = json.loads(output.with_suffix(".json").read_text())["flow"]
    assert reused["reused"] and reused["flow_shop_changes"] == flow["flow_shop_changes"]
    assert reused["delivered_in_period"] > 0 and reused["ratio_page_to_board"] > 0


def test_a_quick_scale_run_compares_every_operation_and_saves_index_scan_plans(bench_env, tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--sections", "scale", "--quick", "--ros", "50", "--output", str(output)],
        cwd=ROOT, env=bench_env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Scale: every operation at 100 shops, 10,000 ROs" in output.read_text()
    figures = json.loads(output.with_suffix(".json").read_text())
    operations = {row["operation"]: row for row in figures["scale"]["table"]}
    for name in ("board page (renders)", "board poll, nothing changed (304)", "RO list, first page of 50",
                 "board delta after one move", "RO list, q search", "batch POST 50 ROs", "batch PATCH 50 ROs",
                 "OBS sweep read (50 due)"):  # fmt: skip
        assert operations[name]["empty_ms"] > 0 and operations[name]["large_ms"] > 0, name
    assert any(name.startswith("idempotency purge (208 expired)") for name in operations)
    # The group was generated, and no statement of the board, the list or the jobs reads a big table whole.
    generated = {row["table"]: row["generated_rows"] for row in figures["scale_data"]["table"]}
    assert generated["repairs_stagechange"] == 100_000 and generated["repairs_repairorder"] == 10_000
    assert figures["scale"]["seq_scans_large"] == {}
    plans = (tmp_path / "scale-plans-large.txt").read_text()
    assert "Index" in plans and "## board: cards and teams" in plans and "## OBS sweep" in plans
    # The generated database is dropped after the run unless asked to keep it.
    with psycopg.connect(harness._conninfo(harness._admin_url(bench_env["BENCH_DATABASE_URL"]))) as conn:
        name = urlparse(bench_env["BENCH_DATABASE_URL"]).path.lstrip("/") + "_scale"
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name]).fetchone()[0] == 0
