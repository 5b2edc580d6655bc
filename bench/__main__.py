"""`python -m bench [--sections ingest,board,moves,memory,scaling] [--quick]`

Runs every section against a fresh PostgreSQL database and real gunicorn
processes, prints a table and writes BENCHMARKS.md. Timings drift on shared
machines, so every target is a ratio measured side by side, or a count.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from . import harness, report

SECTIONS = ["ingest", "board", "moves", "memory", "scaling"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 10 s of moves (for a smoke run)")
    parser.add_argument("--output", default=str(harness.ROOT / "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    sections = [s for s in args.sections.split(",") if s]
    url = harness.bench_database_url()
    results: dict = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "quick": args.quick}

    harness.recreate_database(url)
    from . import ingest

    key = ingest.setup_shops(url)
    with harness.Server(url, workers=2) as server:
        if "ingest" in sections:
            results["ingest"] = ingest.run(url, server, key, repeats=1 if args.quick else 3)
            report.print_section("ingest", results["ingest"])
        if "scaling" in sections:
            results["scaling_ingest"] = ingest.scaling(server, key)
            report.print_section("scaling_ingest", results["scaling_ingest"])
    if "board" in sections or "scaling" in sections or "memory" in sections:
        from . import board

        results.update(board.run(url, sections=sections, quick=args.quick))
        for name in ("board", "scaling_board", "memory_board"):
            if name in results:
                report.print_section(name, results[name])
    if "memory" in sections:
        from . import memory

        results["memory_ingest"] = memory.ingest_peak(url, key)
        report.print_section("memory_ingest", results["memory_ingest"])
    if "moves" in sections:
        from . import moves

        results["moves"] = moves.run(url, seconds=10 if args.quick else 30)
        report.print_section("moves", results["moves"])

    Path(args.output).write_text(report.markdown(results))
    (harness.ROOT / "bench" / "out").mkdir(exist_ok=True)
    (harness.ROOT / "bench" / "out" / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"\nWrote {args.output}")
    return 0


def machine() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    import psycopg

    with harness.connect(harness.bench_database_url().rsplit("/", 1)[0] + "/postgres") as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "postgresql": pg,
        "psycopg": psycopg.__version__,
        "platform": platform.platform(),
    }


if __name__ == "__main__":
    sys.exit(main())
