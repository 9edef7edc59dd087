"""The watch list holds exactly the released batches whose checks could not rule the compound out."""

from __future__ import annotations

import pytest

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from testing_results import services
from testing_results.models import Batch, Compound
from tests import factories as f
from tests.testing_results.conftest import finding

S = Batch.Status


@pytest.fixture
def released(heroin, clean_checks, record, vocab, dana):
    """Released batches: one whose MS reported medetomidine absent, one whose MS found it as a
    cut, one that never looked, one that only had FTIR look (FTIR cannot see it at traces)."""

    def make(code, extra_ms=None, extra_ftir=None):
        batch = f.BatchFactory(substance=heroin, code=code)
        clean_checks(batch)
        if extra_ms:
            record(batch, "mass_spec", [extra_ms])
        if extra_ftir:
            record(batch, "ftir", [extra_ftir])
        services.batch_release(batch=batch, by=dana, reason="All checks agree")
        return batch

    med = vocab["medetomidine"]
    return {
        "absent_by_ms": make("HER-1", finding(med, "not_detected")),
        "found_as_cut": make("HER-2", finding(med, "detected", "0.4")),
        "never_looked": make("HER-3"),
        "ftir_only": make("HER-4", extra_ftir=finding(med, "not_detected")),
    }


@pytest.mark.django_db
def test_it_holds_exactly_the_batches_that_could_not_rule_it_out(released, vocab, pat, heroin):
    quarantined = f.BatchFactory(substance=heroin, code="HER-5")
    held = services.compound_watch_list(compound=vocab["medetomidine"], by=pat)
    assert held == 3
    status = dict(Batch.objects.values_list("code", "status"))
    assert status == {"HER-1": S.RELEASED, "HER-2": S.ON_HOLD, "HER-3": S.ON_HOLD, "HER-4": S.ON_HOLD, "HER-5": S.QUARANTINED}
    medetomidine = Compound.objects.get(pk=vocab["medetomidine"].pk)
    assert medetomidine.category == Compound.Category.HARMFUL and medetomidine.watch_listed_at is not None
    assert AuditRecord.objects.filter(action="compound.watch_listed", new__batches_held=3).exists()
    assert quarantined.status_history.count() == 0


@pytest.mark.django_db
def test_a_second_alert_holds_nothing_more(released, vocab, pat):
    services.compound_watch_list(compound=vocab["medetomidine"], by=pat)
    assert services.compound_watch_list(compound=vocab["medetomidine"], by=pat) == 0


@pytest.mark.django_db
def test_a_held_batch_needs_a_check_that_rules_it_out_before_release(released, vocab, pat, record, dana):
    services.compound_watch_list(compound=vocab["medetomidine"], by=pat)
    batch = released["never_looked"]
    assert services.assess_release(batch, by=dana).codes == ["watch_list_not_ruled_out"]
    record(batch, "mass_spec", [finding(vocab["medetomidine"], "not_detected")])
    services.batch_release(batch=batch, by=dana, reason="Re-tested for medetomidine: absent")
    assert Batch.objects.get(pk=batch.pk).status == S.RELEASED
    # The one that found it as a cut can never go back out.
    with pytest.raises(ServiceError) as exc:
        services.batch_release(batch=released["found_as_cut"], by=dana, reason="again")
    assert exc.value.code == "release_blocked"


@pytest.mark.django_db
def test_new_batches_must_rule_out_a_watch_listed_compound(batch, clean_checks, vocab, pat):
    services.compound_watch_list(compound=vocab["medetomidine"], by=pat)
    clean_checks(batch)
    assert services.assess_release(batch).codes == ["watch_list_not_ruled_out"]


@pytest.mark.django_db
def test_a_strip_rules_out_its_whole_class(heroin, clean_checks, dana, pat, vocab):
    # Carfentanil is not on the MS report, but the fentanyl strip answers for the class.
    batch = f.BatchFactory(substance=heroin)
    clean_checks(batch)
    services.batch_release(batch=batch, by=dana, reason="ok")
    assert services.compound_watch_list(compound=vocab["carfentanil"], by=pat) == 0


@pytest.mark.django_db
def test_only_programme_admins_change_the_watch_list(vocab, dana, erin):
    for user in (dana, erin):
        with pytest.raises(ServiceError) as exc:
            services.compound_watch_list(compound=vocab["medetomidine"], by=user)
        assert exc.value.code == "not_permitted"
    assert Compound.objects.get(pk=vocab["medetomidine"].pk).category == Compound.Category.CUT


@pytest.mark.django_db
def test_the_command_puts_a_compound_on_the_watch_list_and_says_how_many_were_held(released, pat, dana):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("compound_watch_list", "medetomidine", "--by", "pat", stdout=out)
    assert "3 released batches put on hold" in out.getvalue()
    with pytest.raises(CommandError, match="not_permitted"):
        call_command("compound_watch_list", "Xylazine", "--by", "dana")
