"""Stage-change sources in SPEC §4's words: an RO's creation by the batch API is
"api" (it was "system"); "admin" is gone, as the admin never moves an RO."""

from django.db import migrations, models


def system_to_api(apps, schema_editor):
    apps.get_model("repairs", "StageChange").objects.filter(source="system").update(source="api")


def api_to_system(apps, schema_editor):
    apps.get_model("repairs", "StageChange").objects.filter(source="api").update(source="system")


class Migration(migrations.Migration):
    dependencies = [("repairs", "0002_seed_stages")]

    operations = [
        migrations.RunPython(system_to_api, api_to_system),
        migrations.AlterField(
            model_name="stagechange",
            name="source",
            field=models.CharField(
                choices=[("api", "API"), ("board", "Board"), ("beacon", "Beacon")], max_length=20
            ),
        ),
    ]
