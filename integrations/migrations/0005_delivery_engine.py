"""The one outbox (integrations/delivery/models.py): messages and attempts,
beside the OBS and webhook outboxes until 0006 moves their rows in."""

import django.db.models.deletion
from django.db import migrations, models

import integrations.delivery.models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0004_scale_indexes"),
        ("repairs", "0006_scale_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="Attempt",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("attempted_at", models.DateTimeField()),
                ("http_status", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("error", models.TextField(blank=True)),
                ("response_excerpt", models.TextField(blank=True)),
                ("duration_ms", models.PositiveIntegerField()),
            ],
            options={
                "ordering": ["-attempted_at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="Message",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "destination",
                    models.CharField(choices=[("obs", "OBS"), ("webhook", "Webhook")], max_length=20),
                ),
                ("obs_event_id", models.CharField(blank=True, max_length=100)),
                (
                    "public_id",
                    models.CharField(
                        default=integrations.delivery.models.public_id_new, max_length=40, unique=True
                    ),
                ),
                ("event_type", models.CharField(max_length=60)),
                ("body", models.TextField(blank=True)),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("delivered", "Delivered"),
                            ("failed", "Failed"),
                            ("obsolete", "Obsolete"),
                        ],
                        default="pending",
                        max_length=20,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                ("attempt_count", models.PositiveIntegerField(default=0)),
                ("last_error", models.TextField(blank=True)),
                ("delivered_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "ordering": ["-id"],
            },
        ),
        migrations.AddField(
            model_name="message",
            name="endpoint",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="messages",
                to="integrations.webhookendpoint",
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="repair_order",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="delivery_messages",
                to="repairs.repairorder",
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="stage",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="repairs.stage",
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="stage_change",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="delivery_messages",
                to="repairs.stagechange",
            ),
        ),
        migrations.AddField(
            model_name="attempt",
            name="message",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="attempts",
                to="integrations.message",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("state", "pending")),
                fields=["next_attempt_at"],
                name="message_pending_due_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                fields=["repair_order", "destination", "endpoint", "id"], name="message_lane_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(fields=["endpoint", "id"], name="message_endpoint_idx"),
        ),
    ]
