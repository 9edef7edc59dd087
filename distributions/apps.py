from django.apps import AppConfig


class DistributionsConfig(AppConfig):
    name = "distributions"
    verbose_name = "Stock and distributions"

    def ready(self) -> None:
        # Connects the receivers that write ledger entries for testing operations.
        from distributions import receivers  # noqa: F401
