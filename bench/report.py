"""Tables for the terminal and BENCHMARKS.md."""


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _rows(data) -> list[dict]:
    return data if isinstance(data, list) else [data]


def table(data) -> list[str]:
    rows = _rows(data)
    if len(rows) == 1:
        return ["| metric | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in rows[0].items()]
    keys = list(rows[0])
    return [
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
        *("| " + " | ".join(_fmt(r.get(k)) for k in keys) + " |" for r in rows),
    ]


def print_section(name: str, data) -> None:
    print(f"\n== {name}")
    for line in table(data):
        print(line)


TITLES = {
    "ingest": "1. Batch ingest (1,000 ROs, 10 shops, HTTP vs raw psycopg)",
    "board": "2. Board (500 Active ROs) vs the read API's JSON for the same ROs",
    "moves": "3. Moves under load (gunicorn, 20 concurrent users)",
    "memory_ingest": "4a. Memory: peak RSS of the server during a 1,000-RO ingest",
    "memory_board": "4b. Memory: peak RSS of the server rendering a 2,000-card board",
    "scaling_ingest": "5a. Scaling: ingest time by ROs per request",
    "scaling_board": "5b. Scaling: board render by cards",
}


def targets(results: dict) -> list[tuple[str, str, bool | None]]:
    out = []
    if "ingest" in results:
        r = results["ingest"]
        out.append(("Batch POST ≥ 0.5× raw psycopg rate", f"{r['ratio_post_to_raw']:.2f}×", r["ratio_post_to_raw"] >= 0.5))
        q = results.get("scaling_ingest")
        if q:
            counts = {c for row in q for c in row["queries"]}
            out.append(("Queries per batch independent of RO count", f"{sorted(counts)}", len(counts) == 1))
    if "board" in results:
        b = results["board"]
        out.append(("Board of 500 cards ≤ 8 queries", str(b["queries"]), b["queries"] <= 8))
        out.append(("Board ≤ 1.5× the JSON time", f"{b['ratio_board_to_json']:.2f}×", b["ratio_board_to_json"] <= 1.5))
    if "moves" in results:
        m = results["moves"]
        out.append(("Moves: 0 lost", str(m["lost_moves"]), m["lost_moves"] == 0))
        if m.get("obs_lag_p95_s") is not None:
            out.append(("p95 OBS delivery lag ≤ 2 s", f"{m['obs_lag_p95_s']:.2f} s", m["obs_lag_p95_s"] <= 2.0))
    return out


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Measured {results['started']} on {m['cpu']} ({m['cores']} cores, {m['memory_gib']} GiB), "
        f"Python {m['python']}, PostgreSQL {m['postgresql']}, psycopg {m['psycopg']}"
        + (" — quick run (fewer repeats)" if results.get("quick") else "")
        + ".",
        "",
        "Reproduce: `make bench` (or `.venv/bin/python -m bench`; `--sections ingest,board` for a part).",
        "Every target is a ratio measured side by side in one run, or a count.",
        "",
        "## Targets",
        "",
        "| target | measured | holds |",
        "|---|---|---|",
    ]
    for name, value, ok in targets(results):
        lines.append(f"| {name} | {value} | {'yes' if ok else 'NO'} |")
    for key, title in TITLES.items():
        if key in results:
            lines += ["", f"## {title}", "", *table(results[key])]
    return "\n".join(lines) + "\n"
