"""Signals sent by testing_results services inside their transaction.

``distributions`` connects the receivers that write the matching ledger entries, so the
testing operation and its stock movement commit together or not at all, without this app
importing the ledger.

- ``batch_received(sender, batch, by)``: a batch was received; write its intake entry.
- ``check_recorded(sender, drug_check, by)``: a check consumed ``drug_check.sample_mg`` of stock.
- ``batch_status_changed(sender, batch, status_change, by)``: a batch moved (the locked batch
  and its new ``BatchStatusChange``); ``distributions`` issues recall notices when a released
  batch goes on hold or is recalled, in the same transaction.
"""

from django.dispatch import Signal

batch_received = Signal()
check_recorded = Signal()
batch_status_changed = Signal()
