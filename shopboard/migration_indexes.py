"""Index changes that a live shop group's database takes without stopping writes.

On PostgreSQL every index is created and dropped CONCURRENTLY: no lock that
blocks moves or batch writes while a 10 M-row table is read (docs/operations.md).
Such statements cannot run inside a transaction, so a migration using this sets
`atomic = False`. If a concurrent build fails (a deadlock, a cancelled deploy),
PostgreSQL leaves the index INVALID: drop it and migrate again.
"""

from django.db import migrations


def indexes_replace(*, drop: dict[str, str], create: dict[str, str]) -> migrations.RunPython:
    """Drop and create indexes, each given as name -> "table (columns) [WHERE …]"; reversible."""

    def run(dropped: dict[str, str], created: dict[str, str]):
        def apply(apps, schema_editor):
            for name in dropped:
                schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            for name, definition in created.items():
                schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {definition}")

        return apply

    return migrations.RunPython(run(drop, create), run(create, drop))
