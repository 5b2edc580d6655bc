"""Indexes nothing reads, dropped (bench `--sections scale`, docs/bench.md): at 10 M stage
changes and 3 M team links they were 190 MB, written on every move and every batch.

- stage history by from/to stage: nothing reads the history by stage, and the 15
  stages are never deleted (the PROTECT check is all they served);
- team links by RO: team_member_unique_per_ro (repair_order, person) leads with the RO.

Dropped CONCURRENTLY on PostgreSQL (shopboard/migration_indexes.py): no write waits.
"""

import django.db.models.deletion
from django.db import migrations, models

from shopboard.migration_indexes import indexes_replace


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("repairs", "0005_search_indexes")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="repairteammember",
                    name="repair_order",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="team_links",
                        to="repairs.repairorder",
                    ),
                ),
                migrations.AlterField(
                    model_name="stagechange",
                    name="from_stage",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="repairs.stage",
                    ),
                ),
                migrations.AlterField(
                    model_name="stagechange",
                    name="to_stage",
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
                    drop={
                        "repairs_repairteammember_repair_order_id_1b065790": "repairs_repairteammember (repair_order_id)",
                        "repairs_stagechange_from_stage_id_6e35a715": "repairs_stagechange (from_stage_id)",
                        "repairs_stagechange_to_stage_id_e4e03952": "repairs_stagechange (to_stage_id)",
                    },
                    create={},
                )
            ],
        )
    ]
