"""Allowance policies and exceptional, two-coordinator overrides."""

__all__: list[str] = []
