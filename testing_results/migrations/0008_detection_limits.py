"""Numeric detection limits per method (and instrument) and compound or class; FTIR's floor
seeded as its default."""

import django.db.models.deletion
from django.db import migrations, models


def seed(apps, schema_editor):
    # FTIR's floor as the default limit for anything it reports (FIELD-NOTES.md: about 5 %).
    # Mass spectrometry's limits depend on the lab and its library: programme admins record them.
    apps.get_model("testing_results", "DetectionLimit").objects.get_or_create(
        method_id="ftir", instrument=None, compound=None, drug_class="",
        defaults={"limit_pct": 5, "note": "FTIR sees about 5 % by weight and up (Drug Checking BC)."},
    )


class Migration(migrations.Migration):

    dependencies = [
        ('testing_results', '0007_method_foreign_keys'),
    ]

    operations = [
        migrations.CreateModel(
            name='DetectionLimit',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('drug_class', models.CharField(blank=True, choices=[('fentanyl', 'Fentanyl and analogues'), ('benzodiazepine', 'Benzodiazepines'), ('nitazene', 'Nitazenes'), ('xylazine', 'Xylazine'), ('alpha2_agonist', 'Other alpha-2 agonists (e.g. medetomidine)'), ('opioid', 'Other opioids'), ('stimulant', 'Stimulants'), ('other', 'Other')], max_length=32)),
                ('limit_pct', models.DecimalField(decimal_places=4, max_digits=8, verbose_name='limit (% by weight)')),
                ('note', models.CharField(blank=True, help_text='Source: validation, manufacturer, lab.', max_length=200)),
                ('compound', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='limits', to='testing_results.compound')),
                ('instrument', models.ForeignKey(blank=True, help_text="Only where this instrument's limit differs from the method's.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='limits', to='testing_results.instrument')),
                ('method', models.ForeignKey(db_column='method', on_delete=django.db.models.deletion.PROTECT, related_name='limits', to='testing_results.method', to_field='code')),
            ],
            options={
                'verbose_name': 'detection limit',
                'ordering': ['method', 'instrument', 'drug_class', 'compound'],
                'constraints': [models.CheckConstraint(condition=models.Q(('limit_pct__gt', 0), ('limit_pct__lte', 100)), name='detectionlimit_pct_range'), models.CheckConstraint(condition=models.Q(('compound__isnull', True), ('drug_class', ''), _connector='OR'), name='detectionlimit_compound_or_class'), models.CheckConstraint(condition=models.Q(models.Q(('method', 'ftir'), _negated=True), ('limit_pct__gte', 5), _connector='OR'), name='detectionlimit_ftir_floor')],
            },
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
