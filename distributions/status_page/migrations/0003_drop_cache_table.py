"""Drop the database cache table.

The status page counted failed tries in Django's cache once, so ``members`` migration 0002
created the cache table with the schema; its counters have long been rows of their own, counted
atomically, and nothing reads the cache any more. Databases made since the cache settings went
never get the table (0002 creates nothing without a database cache); older ones lose it here.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("status_page", "0002_code_lock"), ("members", "0002_create_cache_table")]

    operations = [migrations.RunSQL("DROP TABLE IF EXISTS compassionclub_cache", migrations.RunSQL.noop, elidable=True)]
