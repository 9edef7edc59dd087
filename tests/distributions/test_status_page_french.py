"""The member status page entirely in French: substance and compound names as data (English when
there is no French name), the batch label written in both languages at release, recall and
hold messages, every status text."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from django.utils.html import escape

from members.codes import format_code
from testing_results.models import Compound
from testing_results.services import batch_recall
from tests import factories as f
from tests.builders import Stock, released_stock

pytestmark = pytest.mark.django_db
PIN = "482915"


@pytest.fixture
def heroin(db):
    substance = f.SubstanceFactory(name="Heroin", name_fr="Héroïne")
    Compound.objects.filter(pk=substance.expected_compound_id).update(name="Diacetylmorphine", name_fr="Diacétylmorphine")
    substance.expected_compound.refresh_from_db()
    return substance


@pytest.fixture
def cocaine(db):
    return f.SubstanceFactory(name="Cocaine")  # no French name: the English one shows


@pytest.fixture
def member(group_a, alice, pin_hash):
    return f.MemberFactory(group=group_a, created_by=alice, pin=pin_hash)


def french_client() -> Client:
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.11")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    return client


def post(client: Client, code: str, pin: str):
    token = client.get("/status/").cookies["csrftoken"].value
    return client.post("/status/", {"code": code, "pin": pin, "csrfmiddlewaretoken": token})


def test_the_member_page_is_in_french_names_labels_and_recall_included(member, heroin, cocaine, erin, dana, pat):
    stock = Stock(checker=erin, officer=dana, admin=pat)
    batch = released_stock(member.group, heroin, checker=erin, officer=dana, admin=pat)
    batch.refresh_from_db()
    assert batch.label_text.startswith(f"Batch {batch.code}: Heroin")
    assert batch.label_text_fr.startswith(f"Lot {batch.code} : Héroïne")
    assert "Pureté mesurée : Diacétylmorphine 61,5 % (spectrométrie de masse)" in batch.label_text_fr
    assert "Aucun fentanyl ni analogue trouvé par :" in batch.label_text_fr
    stock.hand_out(member, batch, "3.5")
    batch_recall(batch=batch, by=dana, reason="Fentanyl found by a partner lab.")

    html = post(french_client(), format_code(member.code), PIN).content.decode()
    assert '<html lang="fr">' in html
    assert "Rappel" in html and escape("Héroïne") in html and "Cocaine" in html
    assert escape(batch.label_text_fr.splitlines()[1]) in html
    assert '<span lang="en">Fentanyl found by a partner lab.</span>' in html
    assert re.search(r"10,5 g", html)
    # No English sentence of the page's own is left (the member code, batch codes, the
    # officer's reason marked lang="en" and the English-only substance name aside).
    text = re.sub(r"<[^>]+>", " ", html.replace('<span lang="en">Fentanyl found by a partner lab.</span>', ""))
    for english in ("You can", "left of", "Recall:", "What you received", "Renewal due", "received", "Batch ",
                    "Measured purity", "Done:", "This page"):
        assert english not in text, english


def test_the_typo_message_and_the_wrong_pin_answer_are_in_french(member):
    client = french_client()
    typo = member.code[:-1] + ("0" if member.code[-1] != "0" else "1")
    assert "faute de frappe" in post(client, typo, PIN).content.decode()
    wrong = post(client, format_code(member.code), "730194").content.decode()
    assert "typo" not in wrong and f'value="{format_code(member.code)}"' in wrong
