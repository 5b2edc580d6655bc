"""The search's trigram index, per shop (bench `--sections scale`, docs/bench.md §8).

The search is always one shop's (repair_order_search_condition), but 0005's index held
every shop's trigrams: at 10,000 shops a word's posting lists were the whole group's
(536 index pages for "00042", 10 ms; 0.2 ms in a bench-sized database). With the shop id
as the GIN index's first column (btree_gin), PostgreSQL intersects the shop's entry with
the word's trigrams inside the index and skips through their posting trees: 25 pages,
0.2 ms, whatever the number of shops. The expression is the search's own, as in 0005.

Built, then the old one dropped, CONCURRENTLY (shopboard/migration_indexes.py).
"""

from django.contrib.postgres.operations import BtreeGinExtension
from django.db import migrations
from django.db.models import TextField
from django.db.models.functions import Cast, Upper

from shopboard.migration_indexes import expression_sql, indexes_replace


def _table(apps, schema_editor) -> tuple:
    model = apps.get_model("repairs", "RepairOrder")
    return model, schema_editor.quote_name(model._meta.db_table)


def _search_text(apps, schema_editor) -> str:
    from repairs.selectors import repair_order_search_text

    model, _ = _table(apps, schema_editor)
    # icontains compiles to UPPER(<expression>::text) LIKE UPPER(%s): the index is on exactly that.
    return expression_sql(model, Upper(Cast(repair_order_search_text(), TextField())), schema_editor)


def per_shop(apps, schema_editor) -> str:
    _, table = _table(apps, schema_editor)
    return f"{table} USING gin (shop_id, ({_search_text(apps, schema_editor)}) gin_trgm_ops)"


def whole_table(apps, schema_editor) -> str:
    _, table = _table(apps, schema_editor)
    return f"{table} USING gin (({_search_text(apps, schema_editor)}) gin_trgm_ops)"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("repairs", "0006_scale_indexes")]

    operations = [
        BtreeGinExtension(),
        indexes_replace(
            create={"ro_shop_search_trgm_idx": per_shop},
            drop={"ro_search_trgm_idx": whole_table},
        ),
    ]
