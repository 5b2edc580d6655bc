from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        # Connect the OBS outbox to repairs' stage_changed signal (and, through
        # it, register the Celery tasks in every process that loads Django).
        from .obs import outbox  # noqa: F401
