"""Benchmark harness: `make bench` (or `python -m bench`) prints a table and writes BENCHMARKS.md."""
