"""Autovacuum after every hourly purge of the idempotency records, whatever the table's size
(bench `--sections scale`, docs/bench.md §8, docs/operations.md "Past one PostgreSQL").

By default autovacuum waits for 20 % of a table to be dead: at 10,000 shops (520,000 records,
each purge deleting ~20,800) that is every fifth purge, and each purge in between walks the
earlier ones' dead index entries again, a heap visit each: the purge cost grew with the number
of shops. With no scale factor the table is vacuumed once 1,000 rows are dead, i.e. after each
purge (~0.5 s at that size). SET of a storage parameter takes no lock that blocks writes.
"""

from django.db import migrations

TABLE = "integrations_idempotencyrecord"


class Migration(migrations.Migration):
    dependencies = [("integrations", "0007_delivery_engine_cleanup")]

    operations = [
        migrations.RunSQL(
            f"ALTER TABLE {TABLE} SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000)",
            f"ALTER TABLE {TABLE} RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold)",
        )
    ]
