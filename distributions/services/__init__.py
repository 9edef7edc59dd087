"""Writes to the stock ledger and to allowances (DESIGN.md, "Core operations").

``ledger`` holds the stock movements (intake, sample, transfer, distribution, destruction,
adjustment, reversal); ``custody`` the manifests and witnessed destruction; ``counts`` the
blind counts, receipts from the supplier and the review of flagged differences;
``allowances`` the allowance policies and two-coordinator overrides; ``reference`` the
reference sample retained at receipt; ``visits`` a desk visit's
several distributions, all or none.
Callers import from ``distributions.services``.
"""

from distributions.services.allowances import *  # noqa: F403
from distributions.services.counts import *  # noqa: F403
from distributions.services.custody import *  # noqa: F403
from distributions.services.ledger import *  # noqa: F403
from distributions.services.reference import *  # noqa: F403
from distributions.services.visits import *  # noqa: F403
