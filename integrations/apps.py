from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        # Connect the OBS outbox to repairs' stage_changed signal.
        from . import obs  # noqa: F401
