from django.apps import AppConfig


class SecurityConfig(AppConfig):
    """Authentication hardening: two-factor enrolment, session control, the audit of sign-ins
    and refusals, and the deploy checks that keep demo accounts out of production."""

    name = "compassionclub.security"
    label = "security"
    verbose_name = "Security"

    def ready(self) -> None:
        from compassionclub.security import checks, receivers  # noqa: F401
