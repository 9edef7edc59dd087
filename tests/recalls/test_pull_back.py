"""A recall's pull-back through custody: the notice page links to a manifest back to the central
store and to a witnessed destruction in the group's store, both prefilled; a witnessed
destruction of the recalled grams empties the store, which closes that group's pull-back and,
with the central store's destroyed too and the notices acknowledged, the recall."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from compassionclub.roles import Role
from distributions import services as ledger
from distributions.exports.base import ExportParams
from distributions.models import Account, Manifest
from distributions.recalls import services
from distributions.recalls.exports import RecallReportPdf
from distributions.recalls.models import RecallNotice
from distributions.recalls.selectors import open_recalls
from distributions.services.ledger import group_account, system_account
from testing_results import services as testing
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def notice_of(batch, group) -> RecallNotice:
    return RecallNotice.objects.get(batch=batch, group=group)


def page(client, notice) -> str:
    return client.get(reverse("admin:recalls_notice", args=[notice.pk])).content.decode()


def test_the_pull_back_goes_through_witnessed_destruction_and_a_manifest_and_closes_the_recall(
    client, out_in_groups, dana, alice, carol, bob, pat, charlie, group_a, group_b
):
    batch, _ = out_in_groups
    testing.batch_recall(batch=batch, by=dana, reason="Fentanyl found.")
    vandu, solid = notice_of(batch, group_a), notice_of(batch, group_b)

    # VANDU's coordinator is offered both ways, prefilled with the batch, the store and the grams.
    client.force_login(alice)
    html = page(client, vandu)
    assert "Send it back on a manifest" in html and "destroy it here before a witness" in html
    destroy_url = reverse("admin:distributions_witnesseddestruction_add")
    start = html.index(f'href="{destroy_url}?') + len('href="')
    link = html[start:html.index('"', start)].replace("&amp;", "&")
    form = client.get(link).context["form"]
    store = group_account(group_a)
    assert (form.initial["store"], form.initial["batch"], form.initial["grams"], form.initial["reason"]) == (
        str(store.pk), str(batch.pk), "33.500", "recalled")

    # Destroyed in the store before a second coordinator: VANDU's pull-back is done.
    done = client.post(destroy_url, {
        "store": store.pk, "batch": batch.pk, "grams": "33.500", "reason": "recalled", "method": "denaturing_kit",
        "witness": carol.pk, "witness_password": PASSWORD, "witness_code": "", "idempotency_key": "pull-1",
    })
    assert done.status_code == 302
    html = page(client, vandu)
    assert "the pull-back is done" in html and "Send it back on a manifest" not in html

    # SOLID sends its grams back on a manifest: on the road, not done, until the centre has them.
    manifest = ledger.manifest_send(batch=batch, from_store=group_account(group_b),
                                    to_store=system_account(Account.Kind.CENTRAL), grams=Decimal("25.000"), packages=1,
                                    by=bob)
    client.force_login(bob)
    html = page(client, solid)
    assert "25.000 g are on a manifest back to the central store" in html and "pull-back is done" not in html
    (row,) = open_recalls(dana)
    assert ("In transit", Decimal("25.000")) in row.outstanding
    ledger.manifest_receive(manifest=manifest, grams_received="25.000", by=pat)
    assert "the pull-back is done" in page(client, solid)

    # The central store's grams go to a witnessed destruction from the dashboard; with both
    # notices acknowledged, the recall closes.
    client.force_login(pat)
    dashboard = client.get(reverse("admin:index")).content.decode()
    central = system_account(Account.Kind.CENTRAL)
    (row,) = open_recalls(dana)
    left = dict(row.outstanding)["Central store"]
    assert f"store={central.pk}&amp;batch={batch.pk}&amp;grams={left}&amp;reason=recalled" in dashboard
    services.recall_notice_acknowledge(notice=vandu, by=alice)
    services.recall_notice_acknowledge(notice=solid, by=bob)
    ledger.destruction_witnessed(batch=batch, store=central, grams=left, reason="recalled", method="hazardous_waste",
                                 by=pat, witness=UserFactory(username="quinn", roles=[Role.PROGRAMME_ADMIN]),
                                 witness_password=PASSWORD)
    assert open_recalls(dana) == []
    assert Manifest.objects.get(pk=manifest.pk).status == Manifest.Status.RECEIVED

    # The recall report says who witnessed each destruction and how.
    exporter = RecallReportPdf(user=charlie, params=ExportParams(batch_id=batch.pk))
    exporter.check()
    report = exporter.html()
    assert "Stock pulled back to the central store (25.000 g)" in report
    assert "activated-carbon denaturing kit, witnessed by carol" in report.lower()


def test_who_may_not_act_on_the_store_sees_no_links(client, out_in_groups, dana, group_a):
    batch, _ = out_in_groups
    testing.batch_recall(batch=batch, by=dana, reason="Recalled.")
    client.force_login(dana)
    html = page(client, notice_of(batch, group_a))
    assert "33.500 g</strong>" in html and "Send it back on a manifest" not in html and "before a witness" not in html
