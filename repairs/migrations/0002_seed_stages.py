from django.db import migrations

# SPEC §1: id is what the API and OBS use; position is the board order.
# 15 (DELIVERY UNCONFIRMED) comes before 14 (DELIVERED/CLOSED).
STAGES = [
    (1, 1, "SCHEDULED IN"),
    (2, 2, "VEHICLE ARRIVE"),
    (3, 3, "PRE-WASH"),
    (4, 4, "BLUEPRINT"),
    (5, 5, "DISASSEMBLY"),
    (6, 6, "STAGED FOR PRODUCTION"),
    (7, 7, "BODY"),
    (8, 8, "MECHANICAL"),
    (9, 9, "REFINISH"),
    (10, 10, "REASSEMBLY"),
    (11, 11, "DETAIL"),
    (12, 12, "FINAL INSPECTION"),
    (13, 13, "DELIVERY READY"),
    (14, 15, "DELIVERY UNCONFIRMED"),
    (15, 14, "DELIVERED/CLOSED"),
]


def seed(apps, schema_editor):
    Stage = apps.get_model("repairs", "Stage")
    for position, stage_id, name in STAGES:
        Stage.objects.update_or_create(id=stage_id, defaults={"name": name, "position": position})


def unseed(apps, schema_editor):
    apps.get_model("repairs", "Stage").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("repairs", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
