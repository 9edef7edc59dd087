"""The distributions app's admin, one module per part."""

from distributions import (
    allowance_admin,  # noqa: F401  (allowance policies and overrides, through their services)
    batch_admin,  # noqa: F401  (extends the batch page with recipients and stock)
    custody_admin,  # noqa: F401  (manifests and the custody policy, through their services)
    ledger_admin,  # noqa: F401  (accounts, balances, entries; transfer and reversal pages)
    member_admin,  # noqa: F401  (extends the member page and list with visits and allowance)
)
