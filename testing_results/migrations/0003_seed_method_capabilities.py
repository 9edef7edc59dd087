"""Seed the capability table the release rule reads.

A frozen copy of ``testing_results.rules.DEFAULT_CAPABILITIES`` as it stood when this migration
was written, so the migration does not change if the module does.
"""

from django.db import migrations

CLASSES = ["fentanyl", "benzodiazepine", "nitazene", "xylazine", "alpha2_agonist", "opioid", "stimulant", "other"]
FTIR_NOTE = "FTIR sees about 5-10 % and up: too coarse for compounds that kill at traces."
MS_NOTE = "Mass spectrometry quantifies down to traces."
STRIP_NOTE = "A strip only answers for the class it is made for."


def rows():
    for c in CLASSES:
        yield "ftir", c, c not in {"fentanyl", "benzodiazepine", "nitazene", "alpha2_agonist"}, False, FTIR_NOTE
        yield "mass_spec", c, True, False, MS_NOTE
        yield (
            "immunoassay", c, c in {"fentanyl", "benzodiazepine", "nitazene", "xylazine"},
            c in {"fentanyl", "benzodiazepine"}, STRIP_NOTE,
        )


def seed(apps, schema_editor):
    MethodCapability = apps.get_model("testing_results", "MethodCapability")
    for method, drug_class, can_rule_out, required, note in rows():
        MethodCapability.objects.get_or_create(
            method=method, drug_class=drug_class,
            defaults={"can_rule_out": can_rule_out, "required": required, "note": note},
        )


class Migration(migrations.Migration):
    dependencies = [("testing_results", "0002_method_capability")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
