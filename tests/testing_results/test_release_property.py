"""Property: no sequence of service calls releases a batch with a harmful compound detected,
and every successful release had a clean assessment for the releasing user at that moment."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compassionclub.errors import ServiceError
from testing_results import services
from testing_results.models import Batch, Compound, Finding
from testing_results.rules import PRESENT
from tests import factories as f
from tests.builders import record_checks
from tests.testing_results.conftest import CLEAN

COMPOUNDS = ["heroin", "caffeine", "fentanyl", "carfentanil", "bromazolam", "isotonitazene", "xylazine", "medetomidine"]
RESULTS = ["detected", "not_detected", "positive", "negative", "invalid"]

finding_st = st.tuples(st.sampled_from(COMPOUNDS), st.sampled_from(RESULTS))
step_st = st.one_of(
    st.tuples(st.just("check"), st.sampled_from(["ftir", "mass_spec", "immunoassay"]),
              st.lists(finding_st, min_size=1, max_size=5, unique_by=lambda x: x[0]), st.sampled_from(["erin", "root"])),
    st.tuples(st.just("clean"), st.sampled_from(["erin", "root"])),  # the three checks of a clean batch
    st.tuples(st.just("release"), st.sampled_from(["dana", "root", "erin"])),
    st.tuples(st.sampled_from(["hold", "recall", "reject"]), st.just("dana")),
    st.tuples(st.just("watch"), st.sampled_from(["medetomidine", "caffeine", "xylazine"])),
)


def _harmful_detected(batch: Batch) -> bool:
    return Finding.objects.filter(
        drug_check__batch=batch, compound__category=Compound.Category.HARMFUL, result__in=PRESENT
    ).exists()


@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(step_st, min_size=1, max_size=12))
def test_no_sequence_of_calls_releases_a_batch_with_a_harmful_compound(steps, heroin, vocab, erin, dana, pat, root):
    users = {"erin": erin, "dana": dana, "root": root}
    batch = f.BatchFactory(substance=heroin)
    for step in steps:
        try:
            if step[0] == "check":
                _, method, findings, who = step
                record_checks(
                    batch=batch, method=method, by=users[who], lab="Lab",
                    findings=[{"compound": vocab[k], "result": r, "concentration_pct": None} for k, r in findings],
                )
            elif step[0] == "clean":
                for method, make in CLEAN.items():
                    record_checks(batch=batch, method=method, by=users[step[1]], lab="Lab", findings=make(vocab))
            elif step[0] == "release":
                before = services.assess_release(batch, by=users[step[1]])
                services.batch_release(batch=batch, by=users[step[1]], reason="Property test")
                assert before.releasable, before.codes
            elif step[0] == "watch":
                services.compound_watch_list(compound=vocab[step[1]], by=pat)
            else:
                getattr(services, f"batch_{step[0]}")(batch=batch, by=users[step[1]], reason="Property test")
        except ServiceError:
            pass
        batch.refresh_from_db()
        if batch.status == Batch.Status.RELEASED:
            assert not _harmful_detected(batch)
