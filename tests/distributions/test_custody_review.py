"""Flagged differences get a second look: a programme admin or release officer who did not record
the difference marks each reviewed with a reason code, once; the dashboard shows how many wait;
every review is audited and every refusal stores nothing."""

import pytest
from django.urls import reverse

from compassionclub.audit.models import AuditRecord
from distributions import services
from distributions.custody_selectors import flagged_unreviewed, unreviewed_count
from distributions.models import Account, Balance, DifferenceReview
from distributions.services.ledger import group_account, system_account
from tests.distributions.ledger_helpers import D, batch_at_group, batch_in_central
from tests.distributions.test_custody_manifests import refused
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

FLAGGED = reverse("admin:distributions_differencereview_flagged")


@pytest.fixture
def short_manifest(pat, alice, group_a):
    """20 g sent, 18 g weighed in (spillage): beyond 0.5 g or 1 %, flagged."""
    batch = batch_in_central(grams="100.000", by=pat)
    manifest = services.manifest_send(batch=batch, from_store=system_account(Account.Kind.CENTRAL),
                                      to_store=group_account(group_a), grams=D(20), packages=1, by=pat)
    return services.manifest_receive(manifest=manifest, grams_received="18.000", by=alice, reason="spillage")


@pytest.fixture
def off_count(pat, alice, carol, group_a):
    """A count of 7 g where the ledger has 10 g: flagged. Returns the line."""
    batch = batch_at_group(group_a, pat, grams="10.000")
    store = group_account(group_a)
    # Any other batch on the shelf is counted as the ledger has it.
    lines = {b.batch: b.grams for b in Balance.objects.filter(account=store, grams__gt=0).select_related("batch")}
    count = services.count_record(store=store, lines={**lines, batch: "7.000"}, by=alice, witness=carol,
                                  witness_password=PASSWORD)
    return count.lines.get(batch=batch)


def test_flagged_differences_wait_until_reviewed_with_a_reason(short_manifest, off_count, dana, pat):
    assert short_manifest.flagged and off_count.flagged
    assert [(row.kind, row.item.pk) for row in flagged_unreviewed()] == [("manifest", short_manifest.pk), ("count", off_count.pk)]
    assert [row.difference for row in flagged_unreviewed()] == [D(-2), D(-3)]
    assert unreviewed_count() == 2
    review = services.difference_review(manifest=short_manifest, reason="spillage_confirmed", by=dana)
    assert (review.reviewed_by, review.reason, review.manifest) == (dana, "spillage_confirmed", short_manifest)
    services.difference_review(count_line=off_count, reason="scale_fault", by=pat)
    assert unreviewed_count() == 0 and flagged_unreviewed() == []
    audited = AuditRecord.objects.filter(action="custody.difference_reviewed").order_by("id")
    assert [(a.actor, a.new["reason"]) for a in audited] == [(dana, "spillage_confirmed"), (pat, "scale_fault")]


def test_refusals_store_nothing(short_manifest, off_count, alice, carol, charlie, dana, pat, group_a):
    refused("not_permitted", services.difference_review, manifest=short_manifest, reason="handling_loss", by=alice)
    refused("not_permitted", services.difference_review, manifest=short_manifest, reason="handling_loss", by=charlie)
    refused("reason_invalid", services.difference_review, manifest=short_manifest, reason="looks fine", by=dana)
    refused("review_target_invalid", services.difference_review, reason="handling_loss", by=dana)
    refused("review_target_invalid", services.difference_review, manifest=short_manifest, count_line=off_count,
            reason="handling_loss", by=dana)
    # The programme admin sent the manifest: someone else reviews it.
    refused("review_own_difference", services.difference_review, manifest=short_manifest, reason="handling_loss", by=pat)
    assert not DifferenceReview.objects.exists()


def test_a_difference_within_the_tolerance_is_not_reviewed_and_a_review_is_made_once(short_manifest, dana, pat, alice, group_a):
    batch = batch_in_central(grams="50.000", by=pat)
    within = services.manifest_receive(
        manifest=services.manifest_send(batch=batch, from_store=system_account(Account.Kind.CENTRAL),
                                        to_store=group_account(group_a), grams=D(20), packages=1, by=pat),
        grams_received="19.800", by=alice, reason="weighing_difference",
    )
    assert not within.flagged
    refused("review_not_flagged", services.difference_review, manifest=within, reason="handling_loss", by=dana)
    services.difference_review(manifest=short_manifest, reason="handling_loss", by=dana)
    refused("already_reviewed", services.difference_review, manifest=short_manifest, reason="unexplained", by=dana)


def test_the_review_page_lists_reviews_and_redirects(client, short_manifest, off_count, dana):
    client.force_login(dana)
    page = client.get(FLAGGED)
    assert page.status_code == 200
    html = page.content.decode()
    assert short_manifest.code in html and f"Count #{off_count.count_id}" in html and "Mark reviewed" in html
    done = client.post(FLAGGED, {"item": f"manifest-{short_manifest.pk}", "reason": "spillage_confirmed"})
    assert done.status_code == 302 and done["Location"] == FLAGGED
    again = client.post(FLAGGED, {"item": f"manifest-{short_manifest.pk}", "reason": "spillage_confirmed"})
    assert again.status_code == 302
    assert DifferenceReview.objects.count() == 1
    reloaded = client.get(FLAGGED).content.decode()
    assert f"flagged-manifest-{short_manifest.pk}" not in reloaded and "already been reviewed" in reloaded
    assert f"flagged-count-{off_count.pk}" in reloaded
    # Nothing chosen: told, nothing stored.
    client.post(FLAGGED, {"item": f"count-{off_count.pk}", "reason": ""})
    assert "Choose what explains" in client.get(FLAGGED).content.decode()
    assert DifferenceReview.objects.count() == 1


def test_auditors_read_the_list_coordinators_do_not_reach_it(client, short_manifest, charlie, alice):
    client.force_login(charlie)
    page = client.get(FLAGGED)
    assert page.status_code == 200 and short_manifest.code in page.content.decode()
    assert "Mark reviewed" not in page.content.decode()
    assert client.post(FLAGGED, {"item": f"manifest-{short_manifest.pk}", "reason": "unexplained"}).status_code == 403
    client.force_login(alice)
    assert client.get(FLAGGED).status_code == 403
    assert not DifferenceReview.objects.exists()


def test_the_dashboard_shows_how_many_wait(client, short_manifest, off_count, dana, alice):
    client.force_login(dana)
    html = client.get(reverse("admin:index")).content.decode()
    assert "2 flagged differences" in html and FLAGGED in html
    services.difference_review(manifest=short_manifest, reason="handling_loss", by=dana)
    services.difference_review(count_line=off_count, reason="handling_loss", by=dana)
    assert "No flagged difference is waiting" in client.get(reverse("admin:index")).content.decode()
    client.force_login(alice)
    assert "dashboard-unreviewed" not in client.get(reverse("admin:index")).content.decode()
