from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CompassionClubConfig(AppConfig):
    """The project package as an app: it owns the roles, which span every other app."""

    name = "compassionclub"
    verbose_name = "Compassion club"

    def ready(self) -> None:
        from compassionclub import roles

        post_migrate.connect(roles.sync_roles_after_migrate, sender=self)
