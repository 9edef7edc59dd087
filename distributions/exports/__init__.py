"""Exports for auditors and coordinators.

One class per export (``base.Exporter``): an identifier, a human name, the parameters it takes,
the formats it offers and a generator of rows. ``render`` holds the one CSV renderer (streamed,
safe against spreadsheet formula injection) and the PDF renderer. ``services.export_run`` is
the single entry point used by the admin pages (``admin_views``) and by ``manage.py export``:
it checks the permission, the format and the parameters, scopes the export to the groups the
user may see and writes the audit record.

Exports registered (``base.registry()``):

- ``batch_report``: one batch, PDF: the certificate an auditor files.
- ``batch_reports``: many batches, CSV, one row per finding.
- ``ledger``: the ledger, CSV, with hashes and the chain verification for the period.
- ``distribution_summary``: group x substance x week or month, CSV, small counts suppressed.
"""
