"""The ROs' indexes at shop-group scale (bench `--sections scale`, docs/bench.md "Scale").

The search's trigram index, per shop.

The search is always one shop's (repair_order_search_condition), but 0005's index held
every shop's trigrams: at 10,000 shops a word's posting lists were the whole group's
(536 index pages for "00042", 10 ms; 0.2 ms in a bench-sized database). With the shop id
as the GIN index's first column (btree_gin), PostgreSQL intersects the shop's entry with
the word's trigrams inside the index and skips through their posting trees: 25 pages,
0.2 ms, whatever the number of shops. The expression is the search's own, as in 0005.

Two foreign-key indexes nothing reads, dropped: by shop (the unique number, ro_shop_status_idx,
ro_shop_updated_idx and the search index all lead with the shop and serve its reads) and by stage
(ROs are never read by stage alone; the list's stage filter is applied to the shop's rows; the 15
stages are never deleted, so PROTECT never looks). At 1 M ROs each put one more B-tree descent
into every RO a batch writes and every move (~6,000 buffer reads a 1,000-RO POST + PATCH each).

Built, then the old ones dropped, CONCURRENTLY (shopboard/migration_indexes.py).
"""

import django.db.models.deletion
from django.contrib.postgres.operations import BtreeGinExtension
from django.db import migrations, models
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

    dependencies = [("repairs", "0008_flow_summaries")]

    operations = [
        BtreeGinExtension(),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="repairorder",
                    name="shop",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="repair_orders",
                        to="repairs.shop",
                    ),
                ),
                migrations.AlterField(
                    model_name="repairorder",
                    name="stage",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="repairs.stage",
                    ),
                ),
            ],
            database_operations=[
                indexes_replace(
                    create={"ro_shop_search_trgm_idx": per_shop},
                    drop={
                        "ro_search_trgm_idx": whole_table,
                        "repairs_repairorder_shop_id_cc99f896": "repairs_repairorder (shop_id)",
                        "repairs_repairorder_stage_id_1ada9ddb": "repairs_repairorder (stage_id)",
                    },
                )
            ],
        ),
    ]
