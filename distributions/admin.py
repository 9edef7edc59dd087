"""The distributions app's admin, one module per part."""

from distributions import (
    allowance_admin,  # noqa: F401  (allowance policies and overrides, through their services)
    batch_admin,  # noqa: F401  (extends the batch page with recipients and stock)
    custody_admin,  # noqa: F401  (manifests and the custody policy, through their services)
    custody_review_admin,  # noqa: F401  (flagged differences and their reviews)
    ledger_admin,  # noqa: F401  (accounts, balances, entries; the reversal page)
    member_admin,  # noqa: F401  (extends the member page and list with visits and allowance)
)
