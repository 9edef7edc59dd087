"""Give every check recorded before instruments and strip lots were kept an "unrecorded" one.

The stand-ins carry ``unrecorded_before`` = the moment this migration ran; the release rule
accepts them only for checks performed before it, so no new result can hide behind them.
"""

from django.db import migrations
from django.utils import timezone


def forwards(apps, schema_editor):
    Instrument = apps.get_model("testing_results", "Instrument")
    StripLot = apps.get_model("testing_results", "StripLot")
    DrugCheck = apps.get_model("testing_results", "DrugCheck")
    now = timezone.now()
    for method in ("ftir", "mass_spec"):
        instrument = Instrument.objects.create(
            method=method, make_model="Unrecorded", serial=f"unrecorded-{method}", unrecorded_before=now
        )
        DrugCheck.objects.filter(method=method, instrument__isnull=True).update(instrument=instrument)
    lot = StripLot.objects.create(maker="Unrecorded", lot_number="unrecorded", drug_class="", unrecorded_before=now)
    DrugCheck.objects.filter(method="immunoassay", strip_lot__isnull=True).update(strip_lot=lot)


def backwards(apps, schema_editor):
    DrugCheck = apps.get_model("testing_results", "DrugCheck")
    DrugCheck.objects.filter(instrument__unrecorded_before__isnull=False).update(instrument=None)
    DrugCheck.objects.filter(strip_lot__unrecorded_before__isnull=False).update(strip_lot=None)
    apps.get_model("testing_results", "Instrument").objects.filter(unrecorded_before__isnull=False).delete()
    apps.get_model("testing_results", "StripLot").objects.filter(unrecorded_before__isnull=False).delete()


class Migration(migrations.Migration):
    dependencies = [("testing_results", "0004_instruments_strip_lots_invalidation")]

    operations = [migrations.RunPython(forwards, backwards)]
