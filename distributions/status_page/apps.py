from django.apps import AppConfig


class StatusPageConfig(AppConfig):
    """The public member status page. An app of its own only for its attempt counters."""

    name = "distributions.status_page"
    label = "status_page"
    verbose_name = "Member status page"
    default_auto_field = "django.db.models.BigAutoField"
