"""Receivers that turn testing operations into ledger entries, in the sender's transaction."""

from django.dispatch import receiver

from testing_results.signals import batch_received, check_recorded


@receiver(batch_received, dispatch_uid="distributions.intake")
def write_intake(sender, *, batch, by, **kwargs) -> None:
    from distributions.services import intake_record, reference_retain

    intake_record(batch=batch, by=by)
    reference_retain(batch=batch, by=by)


@receiver(check_recorded, dispatch_uid="distributions.sample")
def write_sample(sender, *, drug_check, by, **kwargs) -> None:
    from distributions.services import reference_sample_record, sample_record

    # A retest's sample comes from the reference sample while it holds enough.
    if reference_sample_record(drug_check=drug_check, by=by) is None:
        sample_record(drug_check=drug_check, by=by)
