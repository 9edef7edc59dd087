"""The ledger entry's hash: one canonical form, used by the writers and by ``verify_ledger``.

An entry's hash is the SHA-256 of a JSON array (``"v1"`` and the fields in ``HASHED_FIELDS``
order, compact separators, non-ASCII kept as is) whose last element is the hash of the entry
before it on its chain. ``canonical_hash`` builds that text from the values as text: grams with
exactly three decimals (``"1.500"``), moments as the UTC ``isoformat()``
(``"2026-01-02T03:04:05.000006+00:00"``). The verifier has the database render the columns in
those forms and calls it directly; the writers call ``entry_hash``, which renders Python values
the same way. There is no second copy of the format to keep in step.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from hashlib import sha256
from json.encoder import encode_basestring  # the string encoder of json.dumps(..., ensure_ascii=False)

# The fields an entry's hash covers, in order. ``manage.py verify_ledger`` reads exactly these.
HASHED_FIELDS = (
    "kind", "batch_id", "from_account_id", "to_account_id", "grams", "member_id", "recorded_by_id",
    "recorded_at", "occurred_at", "idempotency_key", "reason", "reverses_id", "chain", "chain_seq", "prev_hash",
)


def canonical_hash(
    kind: str, batch_id: int, from_account_id: int, to_account_id: int, grams: str, member_id: int | None,
    recorded_by_id: int | None, recorded_at: str, occurred_at: str, idempotency_key: str, reason: str,
    reverses_id: int | None, chain: str, chain_seq: int, prev_hash: str,
) -> str:
    """The hash of an entry given as text (``grams`` and the two moments already rendered).

    Builds the canonical JSON directly rather than through ``json.dumps`` of a list: the
    verifier calls it once per entry of the whole ledger. The result is byte for byte
    ``json.dumps([...], separators=(",", ":"), ensure_ascii=False)``; a property test holds
    it to that.
    """
    plain = kind + idempotency_key + reason + chain + prev_hash
    if plain.isprintable() and '"' not in plain and "\\" not in plain:
        # Nothing json.dumps would escape (it escapes only quotes, backslashes and U+0000-U+001F,
        # none of which is printable): the strings go in as they are.
        canonical = (
            f'["v1","{kind}",{batch_id},{from_account_id},{to_account_id},"{grams}",'
            f'{"null" if member_id is None else member_id},{"null" if recorded_by_id is None else recorded_by_id},'
            f'"{recorded_at}","{occurred_at}","{idempotency_key}","{reason}",'
            f'{"null" if reverses_id is None else reverses_id},"{chain}",{chain_seq},"{prev_hash}"]'
        )
    else:
        canonical = (
            f'["v1",{encode_basestring(kind)},{batch_id},{from_account_id},{to_account_id},"{grams}",'
            f'{"null" if member_id is None else member_id},{"null" if recorded_by_id is None else recorded_by_id},'
            f'"{recorded_at}","{occurred_at}",{encode_basestring(idempotency_key)},{encode_basestring(reason)},'
            f'{"null" if reverses_id is None else reverses_id},{encode_basestring(chain)},{chain_seq},'
            f"{encode_basestring(prev_hash)}]"
        )
    return sha256(canonical.encode()).hexdigest()


def entry_hash(
    kind, batch_id, from_account_id, to_account_id, grams, member_id, recorded_by_id,
    recorded_at: dt.datetime, occurred_at: dt.datetime, idempotency_key, reason, reverses_id, chain, chain_seq, prev_hash,
) -> str:
    """``canonical_hash`` of an entry's Python values (grams a Decimal, moments aware datetimes)."""
    return canonical_hash(
        kind, batch_id, from_account_id, to_account_id, f"{Decimal(grams):.3f}", member_id, recorded_by_id,
        recorded_at.astimezone(dt.UTC).isoformat(), occurred_at.astimezone(dt.UTC).isoformat(),
        idempotency_key, reason, reverses_id, chain, chain_seq, prev_hash,
    )
