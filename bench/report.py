"""Tables for the terminal and BENCHMARKS.md, and the targets' verdicts."""

import math

TARGET_SCALE_RATIO = 1.2

TITLES = {
    "ingest": "1. Batch ingest: 1,000 ROs over HTTP vs raw psycopg",
    "scaling_ingest": "5a. Scaling: ingest by ROs per request",
    "board": "2. Board of 500 Active ROs vs the read API's JSON for the same ROs",
    "scaling_board": "5b. Scaling: board render by cards",
    "memory_ingest": "4a. Memory: peak RSS of the server during a 1,000-RO ingest",
    "memory_board": "4b. Memory: peak RSS of the server rendering a 2,000-card board",
    "moves": "3. Moves under load: 20 users on gunicorn, Celery delivering to a local OBS",
    "scale": "6. Scale: one shop's operations in a shop group's database vs a nearly empty one",
    "scale_data": "6a. Scale: the generated shop group",
}

NOTES = {
    "ingest": (
        "10 shops × 100 ROs, full payloads, teams of 3 drawn from 50 people per shop, POSTed to a running "
        "gunicorn (2 sync workers, DEBUG off) by `requests`; then a PATCH of the same 1,000 ROs (new phone, "
        "new team). Baselines: the same rows (people upsert, ROs, first stage-history line, team links) "
        "written by raw psycopg in one transaction, with `executemany` and with `COPY`. Repeats are "
        "interleaved (POST, PATCH, executemany, COPY) and the medians compared. `*_server_ms` is the time "
        "inside Django (Server-Timing); `*_queries` the SQL statements per request, the 2 of API-key "
        "authentication included."
    ),
    "scaling_ingest": "POST time by batch size; linear or better means ms per RO does not grow with size.",
    "board": (
        "One shop, 500 Active ROs spread over the 15 stages, teams of 3. The board is a signed-in manager's "
        "full page (`GET /shops/<id>/board/`, gzip, rendered anew each time). The JSON of the same 500 ROs "
        "is the read API's `GET /api/v1/shops/<id>/repair-orders?status=Active&limit=200` followed through "
        "its cursor: 3 pages, times and bytes summed. Polls are what open boards send every 3 s: the first "
        "board to ask after a change renders the fragment, the others share it (Redis), an unchanged board "
        "gets a 304. `kib` is the HTML/JSON size, `wire_kib` what went over the wire."
    ),
    "scaling_board": "Full board page by number of cards; linear or better means ms per card does not grow.",
    "memory_ingest": (
        "A fresh single-worker server, warmed up with small batches; peak is the worker's VmHWM during the "
        "1,000-RO POST, growth is peak minus the RSS before it."
    ),
    "memory_board": "A fresh single-worker server, warmed up on a 50-card board, then the 2,000-card board.",
    "moves": (
        "gunicorn with 2×cores+1 sync workers, a real `celery -A shopboard worker` (prefork, beat embedded) "
        "on Redis, and a local OBS receiver in its own process. 20 closed-loop users (each waits for its "
        "answer), each signed in as a manager, move random cards of a 500-RO shop to random other stages "
        "with the version their board last showed; a 409 refreshes that board (as board.js does) and counts "
        "apart from errors. Two TV boards poll every 3 s. Lost moves and the other consistency counts are "
        "checked in PostgreSQL afterwards. OBS lag: per accepted move, from its answer to OBS receiving that "
        "stage or a later one of the same RO (an update overtaken by a newer one is obsolete by design). "
        "Everything shares the machine's cores: `cpu_seconds` says who used them during the run."
    ),
    "scale": (
        "Only with `--sections scale`. Two databases: the bench's own (nearly empty: the bench's ordinary "
        "shops) and `<bench>_scale`, the same ordinary shops plus a generated shop group (6a). In both, shop "
        "201 has the same 500 Active ROs (batch API) and 50 OBS notifications due. Two 1-worker gunicorns, "
        "one per database, answer the same requests in turn, in alternating order per round; HTTP figures "
        "are client-side medians (`*_server_ms`: Server-Timing). The batch goes to 10 other ordinary shops. "
        "The OBS sweep's read (`notifications_due_newest`) and the idempotency purge run in a Django process "
        "per database and round; before each purge the same number of 25-hour-old records is added in both. "
        "`ratio` = large / empty; target ≤ 1.2. `seq_scans_large`: big tables (> 100,000 rows) that any "
        "statement of an operation reads whole in the large database (EXPLAIN ANALYZE; plans in bench/out/)."
    ),
    "scale_data": (
        "Generated inside PostgreSQL by `INSERT … SELECT … generate_series` (bench/scale_data.py), then "
        "`VACUUM (ANALYZE)`; rows and on-disk size (indexes included) per table after the run."
    ),
}


def _fmt(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return str(value)


def _multi(rows: list[dict]) -> list[str]:
    keys = list(rows[0])
    return [
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
        *("| " + " | ".join(_fmt(r.get(k)) for k in keys) + " |" for r in rows),
    ]


def table(data) -> list[str]:
    if isinstance(data, list):
        return _multi(data)
    lines = []
    scalars = dict(data)
    if "table" in scalars:
        lines += _multi(scalars.pop("table")) + [""]
    return lines + ["| metric | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in scalars.items()]


def print_section(name: str, data) -> None:
    for line in table(data):
        print(line)


def _linear(rows: list[dict], size: str, per_unit: str, tolerance: float = 1.15) -> tuple[str, bool]:
    """Cost grows linearly or better: the cost per unit never grows (beyond noise) with size."""
    ordered = sorted(rows, key=lambda r: r[size])
    curve = " → ".join(f"{r[per_unit]:.3f}" for r in ordered)
    ok = all(b[per_unit] <= a[per_unit] * tolerance for a, b in zip(ordered, ordered[1:]))
    return curve, ok


def targets(results: dict) -> list[tuple[str, str, bool]]:
    out = []
    if "ingest" in results:
        r = results["ingest"]
        raw_rate = max(r["copy_ros_per_s"], r["executemany_ros_per_s"])
        out.append(
            (
                f"Batch POST of 1,000 ROs ≥ 0.5× the raw psycopg rate (the faster: {r['raw_best']})",
                f"{r['ratio_post_to_raw']:.2f}× ({r['post_ros_per_s']:,.0f} vs {raw_rate:,.0f} ROs/s)",
                r["ratio_post_to_raw"] >= 0.5,
            )
        )
    if "scaling_ingest" in results:
        q = results["scaling_ingest"]
        counts = sorted({c for row in q for c in row["queries"]})
        out.append(
            (
                "Queries per batch independent of RO count (10, 100, 1,000 ROs)",
                ", ".join(map(str, counts)),
                len(counts) == 1,
            )
        )
        curve, ok = _linear(q, "ros", "ms_per_ro")
        out.append(("Ingest cost grows linearly or better (ms per RO at 10 → 100 → 1,000)", curve, ok))
    if "board" in results:
        b = results["board"]
        out.append(("Board of 500 cards ≤ 8 queries", str(b["queries"]), b["queries"] <= 8))
        out.append(
            (
                "Board of 500 cards ≤ 1.5× the JSON time of the same ROs",
                f"{b['ratio_board_to_json']:.2f}×",
                b["ratio_board_to_json"] <= 1.5,
            )
        )
    if "scaling_board" in results:
        curve, ok = _linear(results["scaling_board"], "cards", "ms_per_card")
        out.append(("Board cost grows linearly or better (ms per card at 50 → 500 → 2,000)", curve, ok))
    if "moves" in results:
        m = results["moves"]
        bad = {
            k: m[k]
            for k in (
                "lost_moves",
                "changes_without_answer",
                "ros_version_not_1_plus_changes",
                "ros_versions_not_consecutive",
                "ros_not_on_last_accepted_stage",
                "outbox_rows_missing",
            )
            if m[k]
        }
        out.append(
            (
                "Moves: 0 lost (and every RO consistent)",
                f"{m['lost_moves']} lost of {m['moves_accepted']}" + (f"; {bad}" if bad else ""),
                not bad,
            )
        )
        out.append(("Moves: 0 errors", f"{m['errors']} of {m['moves_sent']}", m["errors"] == 0))
        lag = m["obs_lag_p95_s"]
        out.append(("p95 OBS delivery lag ≤ 2 s at 20 concurrent users", f"{lag:.2f} s", lag <= 2.0))
    if "scale" in results:
        sc = results["scale"]
        out.append(
            (
                f"Scale: every operation at {sc['size']} ≤ {TARGET_SCALE_RATIO}× the empty database",
                f"worst {sc['worst_ratio']:.2f}× ({sc['worst_operation']})",
                sc["worst_ratio"] <= TARGET_SCALE_RATIO,
            )
        )
        seq = sc["seq_scans_large"]
        out.append(
            (
                "Scale: board, list and job plans read no big table whole (index scans)",
                "none" if not seq else "; ".join(f"{k}: {', '.join(v)}" for k, v in seq.items()),
                not seq,
            )
        )
    return out


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m bench` (`make bench`); see docs/bench.md for what each section does and "
        "what was tuned. Every target is a ratio measured side by side in one run, or a count.",
        "",
        f"- Measured: {results['started']}"
        + (" — quick run (fewer repeats), not for the record" if results.get("quick") else ""),
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['platform']}; load average "
        f"{m['load_average_at_start']:.2f} at start",
        f"- Software: Python {m['python']}, PostgreSQL {m['postgresql']}, psycopg {m['psycopg']}",
        f"- Reproduce: `make bench`, or `.venv/bin/python -m bench` (this run: `{results['command']}`, "
        f"{results.get('duration_s', '?')} s)",
        "- Everything (gunicorn, PostgreSQL, Redis, the Celery worker, the OBS receiver and the load "
        f"generator) runs on these {m['cores']} cores.",
        "",
        "## Targets",
        "",
        "| target | measured | holds |",
        "|---|---|---|",
    ]
    for name, value, ok in targets(results):
        lines.append(f"| {name} | {value} | {'yes' if ok else '**no**'} |")
    for key, title in TITLES.items():
        if key in results:
            lines += ["", f"## {title}", "", NOTES[key], "", *table(results[key])]
    return "\n".join(lines) + "\n"
