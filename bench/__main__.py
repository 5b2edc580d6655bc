"""`python -m bench [--sections ingest,board,moves,memory,scaling,flow,webhooks,live,scale] [--quick]`

Runs every section against a fresh PostgreSQL database and real gunicorn and
Celery processes, prints a table per section and writes BENCHMARKS.md (and
bench/out/results.json). Timings drift on shared machines, so every target
is a ratio measured side by side in one run, or a count.

Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/shopboard_bench,
dropped and created anew), BENCH_REDIS_URL / BENCH_BROKER_URL (default Redis
databases 11 and 12 on 127.0.0.1; the broker is emptied before the moves run).
"""

import argparse
import json
import os
import platform
import sys
import time
from functools import partial
from pathlib import Path

from . import board, flow, harness, ingest, live, moves, report, scale, webhooks

SECTIONS = ["ingest", "board", "moves", "memory", "scaling", "flow", "webhooks", "live"]
# Only when named: the full size writes a 4 GB shop group and takes minutes.
ON_REQUEST = ["scale"]
# Sections that can measure again on the database an earlier run left (--reuse-db).
REUSABLE = {"board", "flow"}
DEFAULT_OUTPUT = harness.ROOT / "BENCHMARKS.md"


def _flow(server, url: str, key: str, *, rounds: int, quick: bool, reuse: bool) -> dict:
    generated = flow.generated(url, quick=quick) if reuse else None
    if generated is None:
        print("Generating the flow history ...", flush=True)
        generated = flow.fill(url, quick=quick)
    else:
        print("Reusing the flow history of an earlier run (--reuse-db) ...", flush=True)
    return flow.run(server, key, rounds=rounds, generated=generated)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated, of {','.join(SECTIONS + ON_REQUEST)} (default: all but {','.join(ON_REQUEST)})",
    )
    parser.add_argument("--quick", action="store_true", help="one repeat, 10 s of moves (a smoke run)")
    parser.add_argument("--seconds", type=float, help="length of the moves run (default 30, quick 10)")
    parser.add_argument(
        "--ros", type=int, default=1000, help="ROs per ingest batch (default 1,000; 10 to 1,000)"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--keep-scale-db", action="store_true", help="leave the scale section's generated database for a look"
    )
    parser.add_argument(
        "--reuse-scale-db",
        action="store_true",
        help="measure on the group a --keep-scale-db run left (migrated to today's schema) instead of a new one",
    )
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="board and flow only: measure on the database the last run left (migrated to today's schema); "
        "its 500-card board and flow history are kept, not generated again",
    )
    args = parser.parse_args(argv)
    sections = [s for s in args.sections.split(",") if s]
    if unknown := set(sections) - set(SECTIONS + ON_REQUEST):
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    if args.reuse_db and (other := set(sections) - REUSABLE):
        parser.error(f"--reuse-db is for {','.join(sorted(REUSABLE))} only, not {','.join(sorted(other))}")
    if not (10 <= args.ros <= 1000 and args.ros % 10 == 0):
        parser.error("--ros must be a multiple of 10 from 10 to 1,000 (the ROs are spread over 10 shops)")
    quick = args.quick
    started = time.monotonic()
    results: dict = {
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "quick": quick,
        "sections": sections,
        "command": "python -m bench"
        + ("" if args.sections == ",".join(SECTIONS) else f" --sections {args.sections}")
        + (" --quick" if quick else "")
        + (f" --ros {args.ros}" if args.ros != 1000 else "")
        + (" --reuse-db" if args.reuse_db else ""),
    }

    url = harness.bench_database_url()
    if args.reuse_db:
        print(f"Reusing {url.rsplit('/', 1)[-1]} (migrations, static files) ...", flush=True)
        harness.migrate_database(url)
    else:
        print(
            f"Preparing {url.rsplit('/', 1)[-1]} (fresh database, migrations, static files) ...", flush=True
        )
        harness.recreate_database(url)
    board_shops = sorted(set(board.SCALING_SHOPS.values()))
    shops = [
        [s, f"Bench {s}"]
        for s in [*ingest.SHOP_IDS, *board_shops, moves.MOVES_SHOP, *flow.SHOP_IDS, live.LIVE_SHOP]
    ]
    setup = {
        "shops": shops,
        "key_shops": [s for s, _ in shops],
        "managers": [
            board.MANAGER,
            *moves.user_names(moves.USERS + moves.TV_BOARDS),
            *live.manager_names(),
            *live.viewer_names(),
        ],
        "manager_shops": [*board_shops, moves.MOVES_SHOP, *flow.SHOP_IDS, live.LIVE_SHOP],
        "password": board.PASSWORD,
    }
    key = harness.fixtures("setup", url, **setup)["key"]

    repeats = 1 if quick else 5
    rounds = 3 if quick else 15
    # (result, section asked for, run on the shared server), in the order they run.
    shared = [
        ("ingest", "ingest", lambda server: ingest.run(url, server, key, repeats=repeats, size=args.ros)),
        ("scaling_ingest", "scaling", lambda server: ingest.scaling(server, key, repeats=repeats)),
        ("board", "board", lambda server: board.run(server, key, rounds=rounds)),
        ("scaling_board", "scaling", lambda server: board.scaling(server, rounds=rounds)),
        (
            "flow",
            "flow",
            lambda server: _flow(server, url, key, rounds=rounds, quick=quick, reuse=args.reuse_db),
        ),
        # 10× the history is 10× the work per request: fewer rounds, the median of them.
        ("scaling_flow", "flow", lambda server: flow.scaling(server, key, rounds=max(3, rounds // 3))),
    ]
    wanted_shared = [(name, run) for name, section, run in shared if section in sections]
    own_server = [
        name
        for name, section in (
            ("memory_ingest", "memory"),
            ("memory_board", "memory"),
            ("moves", "moves"),
            ("webhooks", "webhooks"),
            ("live", "live"),
        )
        if section in sections
    ]
    try:
        with harness.Server(url, workers=os.cpu_count() or 2) as server:
            wanted = set()
            # flow is compared with the 500-card board; scale measures it in both databases
            if "board" in sections or "flow" in sections or "scale" in sections:
                wanted.add(500)
            if "scaling" in sections:
                wanted.update(board.SCALING_SHOPS)
            if "memory" in sections:
                wanted.update({50, 2000})
            for cards in sorted(wanted):
                if args.reuse_db and board.shop_has_cards(url, board.SCALING_SHOPS[cards], cards):
                    continue
                board.fill_shop(server, key, url, board.SCALING_SHOPS[cards], cards, tag=f"b{cards}-")
            if "moves" in sections or "webhooks" in sections:
                board.fill_shop(server, key, url, moves.MOVES_SHOP, 500, tag="mv-")
            if "live" in sections:
                board.fill_shop(server, key, url, live.LIVE_SHOP, 500, tag="lv-")
            for name, run in wanted_shared:
                _section(results, name, partial(run, server))
    except Exception as exc:  # the shared server, or the shops every section reads, failed
        reason = f"the shared server or the shops' data failed: {_why(exc)}"
        for name in [name for name, _ in wanted_shared] + own_server:
            results.setdefault(name, {"error": reason})
        print(f"\n!! {reason}", flush=True)
    if "scale" in sections:
        print(f"\n== {report.TITLES['scale']}", flush=True)
        try:
            results["scale"], results["scale_data"] = scale.run(
                url,
                setup=setup,
                key=key,
                quick=quick,
                rounds=rounds,
                ros=args.ros,
                keep=args.keep_scale_db or args.reuse_scale_db,
                reuse=args.reuse_scale_db,
                plans_dir=harness.OUT if args.output == DEFAULT_OUTPUT else args.output.parent,
            )
        except Exception as exc:
            results["scale"] = {"error": _why(exc)}
        for name in ("scale", "scale_data"):
            if name in results:
                report.print_section(name, results[name])
    if "memory" in sections and "memory_ingest" not in results:
        from . import memory

        _section(results, "memory_ingest", lambda: memory.ingest_peak(url, key))
        _section(results, "memory_board", lambda: board.memory_peak(url))
    if "moves" in sections and "moves" not in results:
        seconds = args.seconds or (10 if quick else 30)

        def run_moves() -> dict:
            harness.empty_broker()
            return moves.run(url, seconds=seconds)

        _section(results, "moves", run_moves)
    if "webhooks" in sections and "webhooks" not in results:
        seconds = args.seconds or (10 if quick else 30)

        def run_webhooks() -> dict:
            harness.empty_broker()
            return webhooks.run(url, seconds=seconds)

        _section(results, "webhooks", run_webhooks)

    if "live" in sections and "live" not in results:
        _section(results, "live", lambda: live.run(url, quick=quick))

    results["duration_s"] = round(time.monotonic() - started)
    output = Path(args.output)
    output.write_text(report.markdown(results))
    # The figures as data: bench/out/results.json, or beside an --output elsewhere.
    results_path = harness.OUT / "results.json" if output == DEFAULT_OUTPUT else output.with_suffix(".json")
    results_path.parent.mkdir(exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2, default=str))
    print()
    for name, value, ok in report.targets(results):
        print(f"{'holds' if ok else 'MISSED':>6}  {name}: {value}")
    failed = report.failed_sections(results)
    for name, reason in failed.items():
        print(f"FAILED  {report.TITLES[name]}: {reason}")
    print(f"\nWrote {output} and {results_path} in {results['duration_s']} s")
    return 1 if failed else 0


def _section(results: dict, name: str, run) -> None:
    """Run one section; if it cannot finish, record why and let the others run.
    (Every process a section starts is stopped by its own `with` blocks.)"""
    print(f"\n== {report.TITLES[name]}", flush=True)
    try:
        results[name] = run()
    except Exception as exc:
        results[name] = {"error": _why(exc)}
    report.print_section(name, results[name])


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'no detail'}"


def machine() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    import psycopg

    with harness.connect(harness._admin_url(harness.bench_database_url())) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "postgresql": pg.split()[0],
        "psycopg": psycopg.__version__,
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg()[0],
    }


if __name__ == "__main__":
    sys.exit(main())
