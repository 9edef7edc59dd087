"""Writes for drug checking and batch release (DESIGN.md, "Core operations").

``batches`` holds receiving, checks, the release transitions and the watch list; ``programme``
the programme's own settings: the capability table, methods, detection limits and the
reference sample. Callers import from ``testing_results.services``.

Every function is one transaction with its audit record; a refusal raises ``ServiceError`` and
stores nothing. Batch status changes lock the batch row and then move it with a conditional
update (``filter(status=expected).update(...)``), so of two officers acting at once exactly one
succeeds. Release and the watch list also lock the substance rows (release its own, the watch
list all of them, always before any batch row): a compound being put on the watch list and a
batch being released therefore cannot interleave, and a released batch is never one the watch
list would have held.

Stock movements are not written here: ``batch_received`` and ``check_recorded`` (see
``testing_results.signals``) are sent inside the transaction and ``distributions`` writes the
ledger entries in it.
"""

from testing_results.services.batches import *  # noqa: F403
from testing_results.services.programme import *  # noqa: F403
