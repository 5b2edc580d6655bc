"""A trigram index for the search (SPEC §4 `q`, §7 board search): one GIN index on the
expression the search compares, `UPPER(<SEARCH_FIELDS joined by spaces>)`.

Measured on a shop of 45,000 Active ROs (docs/board.md): a word found in few ROs costs a
bitmap index scan instead of ten ILIKEs on every row. The expression is built by the
search's own function, so the index and the query cannot drift apart.
(Replaced by a per-shop one in 0007_shop_search_index.)
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations
from django.db.models import TextField
from django.db.models.functions import Cast, Upper

from shopboard.migration_indexes import expression_sql

INDEX_NAME = "ro_search_trgm_idx"


def create(apps, schema_editor):
    from repairs.selectors import repair_order_search_text

    model = apps.get_model("repairs", "RepairOrder")
    # icontains compiles to UPPER(<expression>::text) LIKE UPPER(%s): the index is on exactly that.
    sql = expression_sql(model, Upper(Cast(repair_order_search_text(), TextField())), schema_editor)
    table = schema_editor.quote_name(model._meta.db_table)
    schema_editor.execute(f"CREATE INDEX {INDEX_NAME} ON {table} USING gin (({sql}) gin_trgm_ops)")


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX_NAME}")


class Migration(migrations.Migration):
    dependencies = [("repairs", "0004_shop_time_zone_stage_change_time_index")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create, drop),
    ]
