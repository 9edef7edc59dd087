"""Methods as data: the three seeded methods (the codes checks, instruments and capabilities
already carry), each with a panel of the compounds it is usually run for, taken from the
compounds present when this migration runs; then the method columns become foreign keys.
"""

from django.db import migrations, models


METHODS = [
    # code, name, kind, quantifies
    ("ftir", "FTIR spectrometry", "spectrum", False),
    ("mass_spec", "Mass spectrometry", "spectrum", True),
    ("immunoassay", "Immunoassay test strip", "strip", False),
]
# A strip gives one result for its lot's class: one compound per class it is made for.
STRIP_PANEL = ["Fentanyl", "Bromazolam", "Isotonitazene", "Xylazine"]


def seed(apps, schema_editor):
    Method = apps.get_model("testing_results", "Method")
    Compound = apps.get_model("testing_results", "Compound")
    for code, name, kind, quantifies in METHODS:
        method, _ = Method.objects.get_or_create(
            code=code, defaults={"name": name, "kind": kind, "quantifies": quantifies, "required": True}
        )
        if code == "ftir":
            panel = Compound.objects.filter(category__in=["active", "cut"])
        elif code == "mass_spec":
            panel = Compound.objects.filter(category__in=["active", "harmful"])
        else:
            panel = Compound.objects.filter(name__in=STRIP_PANEL)
        method.panel.set(panel)


class Migration(migrations.Migration):

    dependencies = [
        ('testing_results', '0005_unrecorded_instruments_and_lots'),
    ]

    operations = [
        migrations.CreateModel(
            name='Method',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.SlugField(help_text='Short code, e.g. hplc. Cannot be changed later.', max_length=16, unique=True)),
                ('name', models.CharField(max_length=60, unique=True)),
                ('kind', models.CharField(choices=[('spectrum', 'Spectrum or chromatogram (detected / not detected)'), ('strip', 'Test strip (positive / negative / invalid)')], default='spectrum', max_length=16)),
                ('quantifies', models.BooleanField(default=False, help_text='Results may give a concentration (%).')),
                ('required', models.BooleanField(default=False, help_text='A batch needs at least one check by this method before release.')),
            ],
            options={
                'ordering': ['pk'],
            },
        ),
        migrations.AddField(
            model_name='method',
            name='panel',
            field=models.ManyToManyField(blank=True, help_text="The compounds this method reports: the check form's rows.", related_name='panels', to='testing_results.compound'),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='method',
            constraint=models.CheckConstraint(condition=models.Q(('code', ''), _negated=True), name='method_code_not_empty'),
        ),
        migrations.AddConstraint(
            model_name='method',
            constraint=models.CheckConstraint(condition=models.Q(('kind__in', ['spectrum', 'strip'])), name='method_kind_valid'),
        ),
        migrations.AddConstraint(
            model_name='method',
            constraint=models.CheckConstraint(condition=models.Q(('kind', 'strip'), ('quantifies', True), _negated=True), name='method_strip_does_not_quantify'),
        ),
    ]
