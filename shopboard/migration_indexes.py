"""Index changes that a live shop group's database takes without stopping writes.

On PostgreSQL every index is created and dropped CONCURRENTLY: no lock that
blocks moves or batch writes while a 10 M-row table is read (docs/operations.md).
Such statements cannot run inside a transaction, so a migration using this sets
`atomic = False`. If a concurrent build fails (a deadlock, a cancelled deploy),
PostgreSQL leaves the index INVALID: drop it and migrate again.
"""

from collections.abc import Callable

from django.db import migrations
from django.db.models.sql import Query

# An index's definition, "table (columns) [WHERE …]", or a function of (apps, schema_editor)
# returning it, for definitions compiled from the model's own expressions (expression_sql).
Definition = str | Callable[..., str]


def expression_sql(model, expression, schema_editor) -> str:
    """The SQL of a Django expression over `model`'s table, parameters inlined, for an index on it:
    the index is built from the very expression the query compiles, so the two cannot drift apart."""
    query = Query(model, alias_cols=False)
    resolved = expression.resolve_expression(query)
    sql, params = resolved.as_sql(
        query.get_compiler(connection=schema_editor.connection), schema_editor.connection
    )
    return sql % tuple(schema_editor.quote_value(param) for param in params)


def indexes_replace(*, drop: dict[str, Definition], create: dict[str, Definition]) -> migrations.RunPython:
    """Create and drop indexes, each given as name -> definition; reversible. New ones first: a
    replaced index serves its queries until its successor is built (minutes at 1 M ROs)."""

    def run(dropped: dict[str, Definition], created: dict[str, Definition]):
        def apply(apps, schema_editor):
            for name, definition in created.items():
                if callable(definition):
                    definition = definition(apps, schema_editor)
                schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {definition}")
            for name in dropped:
                schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")

        return apply

    return migrations.RunPython(run(drop, create), run(create, drop))
