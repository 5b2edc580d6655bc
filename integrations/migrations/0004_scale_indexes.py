"""The outbox and the idempotency records at shop-group scale (bench `--sections scale`,
docs/bench.md):

- the sweep reads pending notifications only: a partial index on next_attempt_at WHERE
  state = 'pending' holds the few pending rows instead of every notification ever
  (notification_due_idx, 11 MB at 1.8 M notifications, written on every delivery);
- indexes nothing reads, dropped: notifications by RO (notification_ro_idx leads with
  the RO) and by stage (nothing reads them by stage; stages are never deleted), and
  idempotency records by key (idempotency_unique_key leads with the key).

Created and dropped CONCURRENTLY on PostgreSQL (shopboard/migration_indexes.py).
"""

import django.db.models.deletion
from django.db import migrations, models

from shopboard.migration_indexes import indexes_replace


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("integrations", "0003_webhooks"), ("repairs", "0006_scale_indexes")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="notification", name="notification_due_idx"),
                migrations.AddIndex(
                    model_name="notification",
                    index=models.Index(
                        condition=models.Q(state="pending"),
                        fields=["next_attempt_at"],
                        name="notification_pending_due_idx",
                    ),
                ),
                migrations.AlterField(
                    model_name="idempotencyrecord",
                    name="api_key",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="integrations.apikey",
                    ),
                ),
                migrations.AlterField(
                    model_name="notification",
                    name="repair_order",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="obs_notifications",
                        to="repairs.repairorder",
                    ),
                ),
                migrations.AlterField(
                    model_name="notification",
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
                    create={
                        "notification_pending_due_idx": (
                            "integrations_notification (next_attempt_at) WHERE state = 'pending'"
                        ),
                    },
                    drop={
                        "notification_due_idx": "integrations_notification (state, next_attempt_at)",
                        "integrations_notification_repair_order_id_48bea283": (
                            "integrations_notification (repair_order_id)"
                        ),
                        "integrations_notification_stage_id_0d91d090": "integrations_notification (stage_id)",
                        "integrations_idempotencyrecord_api_key_id_5cd09e90": (
                            "integrations_idempotencyrecord (api_key_id)"
                        ),
                    },
                )
            ],
        )
    ]
