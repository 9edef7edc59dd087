from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "compassionclub.audit"
    label = "audit"
    verbose_name = "Audit trail"
