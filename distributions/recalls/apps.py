from django.apps import AppConfig


class RecallsConfig(AppConfig):
    """What happens after a released batch is held or recalled: a notice to every group that
    holds it or handed it out, the members told, replacements and adverse-event reports."""

    name = "distributions.recalls"
    label = "recalls"
    verbose_name = "Recalls and adverse events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from distributions.recalls import receivers  # noqa: F401
