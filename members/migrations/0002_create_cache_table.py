"""Create the database cache table (settings.CACHES) with the schema.

The member status page counts failed code + PIN attempts in the shared cache so the limits
hold across server processes; with the default database cache the table must exist wherever
the schema does (fresh clones, CI, test databases), not only where someone remembered to run
``createcachetable``. The command is idempotent and does nothing for Redis.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop, elidable=False)]
