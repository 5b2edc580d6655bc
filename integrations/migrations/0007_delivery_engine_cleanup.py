"""The OBS and webhook outboxes, emptied into the one outbox by 0006, go; their
names stay as proxies of it (integrations/obs/models.py, webhooks/models.py)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("integrations", "0006_delivery_engine_data")]

    operations = [
        migrations.RemoveField(
            model_name="deliveryattempt",
            name="notification",
        ),
        migrations.RemoveIndex(
            model_name="notification",
            name="notification_ro_idx",
        ),
        migrations.RemoveIndex(
            model_name="notification",
            name="notification_pending_due_idx",
        ),
        migrations.RemoveField(
            model_name="webhookattempt",
            name="message",
        ),
        migrations.RemoveIndex(
            model_name="webhookmessage",
            name="webhook_message_due_idx",
        ),
        migrations.RemoveIndex(
            model_name="webhookmessage",
            name="webhook_message_lane_idx",
        ),
        migrations.DeleteModel(
            name="DeliveryAttempt",
        ),
        migrations.RemoveField(
            model_name="notification",
            name="repair_order",
        ),
        migrations.RemoveField(
            model_name="notification",
            name="stage",
        ),
        migrations.RemoveField(
            model_name="notification",
            name="stage_change",
        ),
        migrations.DeleteModel(
            name="WebhookAttempt",
        ),
        migrations.RemoveField(
            model_name="webhookmessage",
            name="endpoint",
        ),
        migrations.RemoveField(
            model_name="webhookmessage",
            name="repair_order",
        ),
        migrations.DeleteModel(
            name="Notification",
        ),
        migrations.DeleteModel(
            name="WebhookMessage",
        ),
        migrations.CreateModel(
            name="DeliveryAttempt",
            fields=[],
            options={
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("integrations.attempt",),
        ),
        migrations.CreateModel(
            name="Notification",
            fields=[],
            options={
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("integrations.message",),
        ),
        migrations.CreateModel(
            name="WebhookMessage",
            fields=[],
            options={
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("integrations.message",),
        ),
    ]
