"""Manifests in the admin: sent, received and cancelled through the services, every POST
redirecting, each side seeing only its own manifests, and a printable PDF."""

import pytest
from django.urls import reverse

from distributions.models import Account, CustodyPolicy, Manifest
from distributions.services import manifest_send
from distributions.services.ledger import group_account, system_account
from tests.distributions.ledger_helpers import D, batch_in_central, member_in, store_grams

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch(pat):
    return batch_in_central(grams="60", by=pat)


@pytest.fixture
def manifest(batch, pat, group_a):
    return manifest_send(batch=batch, from_store=system_account(Account.Kind.CENTRAL), to_store=group_account(group_a),
                         grams=D(20), packages=3, by=pat)


def test_a_programme_admin_sends_a_manifest_and_a_resent_form_sends_it_once(client, pat, batch, group_a):
    client.force_login(pat)
    url = reverse("admin:distributions_manifest_add")
    assert client.get(url).status_code == 200
    data = {"batch": batch.pk, "from_store": system_account(Account.Kind.CENTRAL).pk,
            "to_store": group_account(group_a).pk, "grams": "12.5", "packages": "2", "idempotency_key": "send-1"}
    response = client.post(url, data)
    manifest = Manifest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:distributions_manifest_change", args=[manifest.pk])
    assert client.post(url, data).status_code == 302
    assert Manifest.objects.count() == 1
    page = client.get(response["Location"])
    assert manifest.code.encode() in page.content and b"12.500 g" in page.content
    too_much = client.post(url, {**data, "grams": "100", "idempotency_key": "send-2"})
    assert too_much.status_code == 200 and b"holds only 47.500 g" in too_much.content
    assert Manifest.objects.count() == 1


def test_the_receiving_coordinator_receives_by_weight_and_a_reload_does_nothing_more(client, alice, manifest, group_a):
    client.force_login(alice)
    page = client.get(reverse("admin:distributions_manifest_change", args=[manifest.pk]))
    assert b"Receive: weigh and enter the grams" in page.content
    url = reverse("admin:distributions_manifest_receive", args=[manifest.pk])
    refused = client.post(url, {"grams_received": "19"})
    assert refused.status_code == 200 and b"choose the reason" in refused.content
    assert store_grams(manifest.batch, group_a) == D(0)
    response = client.post(url, {"grams_received": "19", "reason": "spillage"})
    assert response.status_code == 302
    assert store_grams(manifest.batch, group_a) == D(19)
    follow = client.get(response["Location"])
    assert b"flagged for review" in follow.content
    again = client.post(url, {"grams_received": "19", "reason": "spillage"})
    assert again.status_code == 200 and b"was received by alice" in again.content
    assert store_grams(manifest.batch, group_a) == D(19)


def test_another_groups_coordinator_does_not_see_the_manifest(client, bob, manifest):
    client.force_login(bob)
    assert manifest.code.encode() not in client.get(reverse("admin:distributions_manifest_changelist")).content
    assert client.get(reverse("admin:distributions_manifest_change", args=[manifest.pk])).status_code == 302
    assert client.get(reverse("admin:distributions_manifest_receive", args=[manifest.pk])).status_code == 404
    assert client.post(reverse("admin:distributions_manifest_receive", args=[manifest.pk]), {"grams_received": "20"}).status_code == 404
    assert client.get(reverse("admin:distributions_manifest_pdf", args=[manifest.pk])).status_code == 404


def test_the_sender_cancels_and_the_stock_is_back(client, pat, manifest, batch):
    client.force_login(pat)
    url = reverse("admin:distributions_manifest_cancel", args=[manifest.pk])
    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 302
    assert store_grams(batch) == D(60)
    again = client.post(url)
    assert again.status_code == 200 and b"was cancelled" in again.content


def test_the_manifest_pdf_names_stores_and_grams_and_no_member(client, alice, manifest, group_a, monkeypatch):
    code = member_in(group_a).code
    captured = {}

    def fake_pdf(html: str) -> bytes:
        captured["html"] = html
        return b"%PDF-1.7 fake"

    monkeypatch.setattr("distributions.exports.render.pdf_from_html", fake_pdf)
    client.force_login(alice)
    response = client.get(reverse("admin:distributions_manifest_pdf", args=[manifest.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert manifest.code in captured["html"] and "20.000 g" in captured["html"] and "VANDU store" in captured["html"]
    assert code not in captured["html"]


def test_the_manifest_pdf_renders(client, pat, manifest):
    pytest.importorskip("weasyprint")
    client.force_login(pat)
    response = client.get(reverse("admin:distributions_manifest_pdf", args=[manifest.pk]))
    assert response.content.startswith(b"%PDF")


def test_the_dashboard_shows_stock_in_transit_to_both_ends_only(client, pat, alice, bob, manifest):
    for user, shown in ((pat, True), (alice, True), (bob, False)):
        client.force_login(user)
        body = client.get(reverse("admin:index")).content
        assert (manifest.code.encode() in body) is shown, user
        assert b"Stock in transit" in body


def test_a_programme_admin_sets_the_custody_policy_and_a_coordinator_may_not(client, pat, alice):
    url = reverse("admin:distributions_custodypolicy_changelist")
    client.force_login(alice)
    assert client.get(url).status_code == 403
    client.force_login(pat)
    assert client.get(url).status_code == 200
    response = client.post(url, {"tolerance_grams": "0.250", "tolerance_percent": "2", "count_interval_days": "5"})
    assert response.status_code == 302
    assert CustodyPolicy.current().count_interval_days == 5


def test_the_receive_and_cancel_pages_answer_only_those_who_may_use_them(client, charlie, alice, pat, manifest):
    receive = reverse("admin:distributions_manifest_receive", args=[manifest.pk])
    cancel = reverse("admin:distributions_manifest_cancel", args=[manifest.pk])
    client.force_login(charlie)  # the auditor reads, never writes
    assert client.get(reverse("admin:distributions_manifest_change", args=[manifest.pk])).status_code == 200
    assert client.get(receive).status_code == 403 and client.get(cancel).status_code == 403
    client.force_login(alice)  # receives into VANDU, did not send it
    assert client.get(receive).status_code == 200 and client.get(cancel).status_code == 403
    client.force_login(pat)  # sent it, is no coordinator of VANDU
    assert client.get(receive).status_code == 403 and client.get(cancel).status_code == 200


def test_the_custody_pages_speak_the_staff_members_language(client, alice, manifest, group_a):
    # Their strings go through gettext: where a catalogue has them (Django's admin one has
    # "Home", "History", "Save"), a French browser reads them in French.
    client.force_login(alice)
    pages = [
        reverse("admin:distributions_manifest_change", args=[manifest.pk]),
        reverse("admin:distributions_manifest_receive", args=[manifest.pk]),
        reverse("admin:distributions_witnesseddestruction_add"),
        f"{reverse('admin:distributions_stockcount_add')}?store={group_account(group_a).pk}",
    ]
    for url in pages:
        english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        french = client.get(url, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
        assert ">Home</a>" in english and ">Accueil</a>" in french, url
    page = client.get(pages[0], HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert ">Historique</a>" in page and manifest.code in page


def test_the_dashboard_says_how_long_each_manifest_has_been_on_the_road(client, pat, manifest):
    import datetime as dt

    def row() -> str:
        body = client.get(reverse("admin:index")).content.decode()
        section = body[body.index('id="dashboard-in-transit"'):]
        return section[section.index(manifest.code):section.index("</tr>", section.index(manifest.code))]

    client.force_login(pat)
    assert "<td>20.000</td><td>under an hour</td>" in row()
    for ago, shown in ((dt.timedelta(hours=5), "5 h"), (dt.timedelta(hours=47), "47 h"), (dt.timedelta(days=3, hours=2), "3 days")):
        Manifest.objects.filter(pk=manifest.pk).update(sent_at=manifest.sent_at - ago)
        assert f"<td>{shown}</td>" in row(), ago
    Manifest.objects.filter(pk=manifest.pk).update(sent_at=manifest.sent_at)
