"""Province-scale benchmarks: a seeded data generator and the measurements of ``manage.py bench``.

``generate`` writes a programme of groups, members, checked batches and a hash-chained ledger
straight into the tables (bulk inserts, ``COPY`` on PostgreSQL), entry by entry in time order
so that every chain, balance and allowance window is what the services would have produced.
``throughput`` races ``distribution_record`` against a plain-SQL baseline of the same
transaction from separate worker processes; ``measure`` times the read paths. ``report``
prints the table and writes the JSON.
"""
