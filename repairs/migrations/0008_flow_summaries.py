"""The flow summaries (repairs/flow_summaries.py), filled from the stage history already recorded.

One INSERT … SELECT per table with SPEC §8's definitions; the indexes are built after the rows
(faster than growing them row by row at 10 M changes). The SQL is written out here, not imported:
a migration stays what it was when it ran (tests/flow/test_flow_summaries.py runs it against the
live figures). Stage ids by position (SPEC §1): < 14 production (1–13), ≥ 14 delivered (15, 14),
≥ 2 arrived (2–15).
"""

import django.db.models.deletion
from django.db import migrations, models

VISITS_BACKFILL = """
INSERT INTO repairs_flowvisit (stage_change_id, shop_id, stage_id, entered_at, left_at)
SELECT sc.id, ro.shop_id, sc.to_stage_id, sc.changed_at,
       lead(sc.changed_at) OVER (PARTITION BY sc.repair_order_id ORDER BY sc.changed_at, sc.id)
FROM repairs_stagechange sc JOIN repairs_repairorder ro ON ro.id = sc.repair_order_id
"""

DELIVERIES_BACKFILL = """
INSERT INTO repairs_flowdelivery
    (repair_order_id, shop_id, delivered_at, arrived_at, repair_number, scheduled_delivery)
SELECT ro.id, ro.shop_id, delivered.changed_at, arrived.changed_at, ro.repair_number, ro.scheduled_delivery
FROM repairs_repairorder ro
CROSS JOIN LATERAL (
    SELECT sc.changed_at FROM repairs_stagechange sc
    WHERE sc.repair_order_id = ro.id
      AND sc.from_stage_id BETWEEN 1 AND 13 AND sc.to_stage_id IN (14, 15)
    ORDER BY sc.changed_at DESC, sc.id DESC LIMIT 1
) AS delivered
LEFT JOIN LATERAL (
    SELECT sc.changed_at FROM repairs_stagechange sc
    WHERE sc.repair_order_id = ro.id AND sc.to_stage_id BETWEEN 2 AND 15
    ORDER BY sc.changed_at, sc.id LIMIT 1
) AS arrived ON true
WHERE ro.stage_id IN (14, 15)
"""


class Migration(migrations.Migration):
    dependencies = [("repairs", "0007_board_version")]

    operations = [
        migrations.CreateModel(
            name="FlowDelivery",
            fields=[
                (
                    "repair_order",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="repairs.repairorder",
                    ),
                ),
                ("shop_id", models.PositiveIntegerField()),
                ("delivered_at", models.DateTimeField()),
                ("arrived_at", models.DateTimeField(null=True)),
                ("repair_number", models.CharField(max_length=50)),
                ("scheduled_delivery", models.DateTimeField(null=True)),
            ],
        ),
        migrations.CreateModel(
            name="FlowVisit",
            fields=[
                (
                    "stage_change",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="repairs.stagechange",
                    ),
                ),
                ("shop_id", models.PositiveIntegerField()),
                ("stage_id", models.PositiveSmallIntegerField()),
                ("entered_at", models.DateTimeField()),
                ("left_at", models.DateTimeField(null=True)),
            ],
        ),
        migrations.RunSQL(VISITS_BACKFILL, reverse_sql=migrations.RunSQL.noop),
        migrations.RunSQL(DELIVERIES_BACKFILL, reverse_sql=migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="flowdelivery",
            index=models.Index(
                fields=["shop_id", "delivered_at"],
                include=("arrived_at", "scheduled_delivery", "repair_number"),
                name="flow_delivery_shop_time_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="flowvisit",
            index=models.Index(
                fields=["shop_id", "stage_id", "left_at"],
                include=("entered_at",),
                name="flow_visit_shop_stage_idx",
            ),
        ),
    ]
