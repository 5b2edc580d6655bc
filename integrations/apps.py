from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        # Connect the OBS and webhook recording to repairs' signals, and
        # register the one outbox's Celery tasks in every process that loads Django.
        from repairs import board_hooks

        from .delivery import tasks  # noqa: F401
        from .obs import outbox  # noqa: F401
        from .obs.board import card_obs_problem, shop_obs_change
        from .webhooks import outbox as webhooks_outbox  # noqa: F401

        board_hooks.register_card_annotation(card_obs_problem)
        board_hooks.register_change_token("obs", shop_obs_change)
