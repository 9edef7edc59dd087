"""The pages of our own making on a tablet (768 px) and a phone (360 px), as each role opens
them over the demo programme: none widens the page past the screen (the exports list, the
renewals worklist, the flagged differences, a destruction form and the batch page did), and
none has a serious accessibility violation."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from compassionclub import demo
from testing_results.models import Batch
from tests.browser.conftest import admin_login, axe_violations

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WIDTHS = [(768, 1024), (360, 740)]


# The data migrations: the rows they insert (methods, capabilities, unrecorded instruments and
# lots, detection limits, system accounts) go with a flush; their schema and triggers stay.
DATA_MIGRATIONS = [
    ("distributions", "0003_system_accounts"),
    ("distributions", "0005_manifests"),
    ("distributions", "0011_reference_sample"),
    ("testing_results", "0003_seed_method_capabilities"),
    ("testing_results", "0005_unrecorded_instruments_and_lots"),
    ("testing_results", "0006_methods_as_data"),
    ("testing_results", "0008_detection_limits"),
]


def data_migrations_again() -> None:
    """A transactional test starts from tables flushed by the one before, the data migrations'
    rows gone with them: run those migrations' functions again, in the state each ran in, as the
    demo expects them."""
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.operations import RunPython

    from testing_results.models import MethodCapability

    if MethodCapability.objects.exists():  # the first transactional test of the run: nothing flushed yet
        return
    loader = MigrationLoader(connection)
    with connection.schema_editor() as editor:
        for node in DATA_MIGRATIONS:
            state = loader.project_state(node, at_end=True)
            for operation in loader.get_migration(*node).operations:
                if type(operation) is RunPython:
                    operation.code(state.apps, editor)


@pytest.fixture
def programme():
    data_migrations_again()
    call_command("seed_demo", "--quiet-logins", stdout=StringIO())
    return {
        "held": Batch.objects.get(status=Batch.Status.QUARANTINED).pk,
        "released": Batch.objects.filter(status=Batch.Status.RELEASED).order_by("pk").first().pk,
    }


def pages_for(role: str, programme: dict) -> list[str]:
    batch_pages = [f"/admin/testing_results/batch/{programme['held']}/change/",
                   f"/admin/testing_results/batch/{programme['released']}/change/"]
    return {
        "demo_coordinator": ["/admin/", "/admin/desk/", "/admin/members/member/renewals/", "/admin/exports/",
                             "/admin/distributions/manifest/", *batch_pages],
        "demo_admin": ["/admin/", "/admin/exports/", "/admin/distributions/differencereview/flagged/",
                       "/admin/distributions/witnesseddestruction/add/", "/admin/distributions/stockcount/add/",
                       *batch_pages],
        "demo_auditor": ["/admin/", "/admin/exports/", "/admin/distributions/differencereview/flagged/", *batch_pages],
        "demo_checker": ["/admin/", *batch_pages],
    }[role]


@pytest.mark.parametrize("role", ["demo_coordinator", "demo_admin", "demo_auditor", "demo_checker"])
def test_no_page_of_ours_scrolls_sideways_on_a_tablet_or_a_phone(page, live_server, axe_source, shots, programme, role):
    admin_login(page, live_server, role, password=demo.DEMO_PASSWORD, next_url="/admin/")
    wide, problems = [], []
    for path in pages_for(role, programme):
        page.goto(f"{live_server.url}{path}")
        assert page.locator("#content").count() == 1, path
        for width, height in WIDTHS:
            page.set_viewport_size({"width": width, "height": height})
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            scroll = page.evaluate("document.documentElement.scrollWidth")
            if scroll > width:
                shots(page, f"{role}-{path.strip('/').replace('/', '-')}-{width}")
                wide.append(f"{path} at {width} px is {scroll} px wide")
            problems += [f"{path} at {width}: {v}" for v in axe_violations(page, axe_source)]
    assert wide == []
    assert problems == []
