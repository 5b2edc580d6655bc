"""The board's change feed (repairs.live, issue 13): a version per shop, and on each RO
the version at which its card last changed.

The column has a constant default (no table rewrite on PostgreSQL 11+); its index is
built CONCURRENTLY (shopboard/migration_indexes.py): no write waits.
"""

import django.db.models.deletion
from django.db import migrations, models

from shopboard.migration_indexes import indexes_replace


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("repairs", "0006_scale_indexes")]

    operations = [
        migrations.CreateModel(
            name="BoardVersion",
            fields=[
                (
                    "shop",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="repairs.shop",
                    ),
                ),
                ("version", models.BigIntegerField(default=0)),
                ("redraw_version", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.AddField(
            model_name="repairorder",
            name="board_version",
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="repairorder",
                    index=models.Index(fields=["shop", "board_version"], name="ro_shop_board_version_idx"),
                ),
            ],
            database_operations=[
                indexes_replace(
                    drop={},
                    create={"ro_shop_board_version_idx": "repairs_repairorder (shop_id, board_version)"},
                )
            ],
        ),
    ]
