"""The distribution desk: a page inside the admin for serving members fast at a drop-in.

Member code (typos caught by the check character before any lookup) → eligibility, remaining
allowance per substance, when it frees up and the renewal date → the member's group's released
stock, soonest best-before first → grams → confirm → a fresh form showing the last distribution,
which can be undone by a reversal. Every rule comes from ``distributions.eligibility`` and
``distributions.services``; the desk only asks and shows their answers.
"""
