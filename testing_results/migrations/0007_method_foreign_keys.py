"""Checks, instruments and capability rows point at their method (by its code, the value the
columns already hold)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('testing_results', '0006_methods_as_data'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='drugcheck',
            name='drugcheck_method_valid',
        ),
        migrations.RemoveConstraint(
            model_name='instrument',
            name='instrument_method_valid',
        ),
        migrations.AlterField(
            model_name='drugcheck',
            name='method',
            field=models.ForeignKey(db_column='method', on_delete=django.db.models.deletion.PROTECT, related_name='checks', to='testing_results.method', to_field='code'),
        ),
        migrations.AlterField(
            model_name='instrument',
            name='method',
            field=models.ForeignKey(db_column='method', limit_choices_to={'kind': 'spectrum'}, on_delete=django.db.models.deletion.PROTECT, related_name='instruments', to='testing_results.method', to_field='code'),
        ),
        migrations.AlterField(
            model_name='methodcapability',
            name='method',
            field=models.ForeignKey(db_column='method', on_delete=django.db.models.deletion.PROTECT, related_name='capabilities', to='testing_results.method', to_field='code'),
        ),
    ]
