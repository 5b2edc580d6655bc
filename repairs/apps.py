from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _seed_stages(sender, using, **kwargs):
    # The data migration seeds the stages once; `flush` (as transactional
    # tests run between tests) empties every table and then sends
    # post_migrate, so the stages are put back here, like content types.
    from .models import Stage
    from .stages import stages_seed

    stages_seed(Stage)


class RepairsConfig(AppConfig):
    name = "repairs"
    verbose_name = "Repairs"

    def ready(self) -> None:
        post_migrate.connect(_seed_stages, sender=self)
