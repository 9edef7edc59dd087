"""Receivers for testing operations that concern a batch already out in the groups."""

from django.dispatch import receiver

from testing_results.models import Batch
from testing_results.signals import batch_status_changed


@receiver(batch_status_changed, dispatch_uid="recalls.notices")
def issue_notices(sender, *, batch, status_change, by, **kwargs) -> None:
    if status_change.to_status in (Batch.Status.ON_HOLD, Batch.Status.RECALLED):
        from distributions.recalls.services import recall_notices_issue

        recall_notices_issue(batch=batch, status_change=status_change)
