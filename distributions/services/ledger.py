"""Stock movements on the double-entry ledger."""

__all__: list[str] = []
