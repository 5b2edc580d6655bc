from django.db import migrations

from repairs.stages import stages_seed


def seed(apps, schema_editor):
    stages_seed(apps.get_model("repairs", "Stage"))


def unseed(apps, schema_editor):
    apps.get_model("repairs", "Stage").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("repairs", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
