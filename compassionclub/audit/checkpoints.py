"""Signed checkpoints: the heads of the hash chains at one moment, signed with an Ed25519 key that
lives outside the database.

A hash chain proves that nothing changed *unless* whoever changed it recomputed the chain: a
database owner can edit an entry, rehash everything after it and move the head, and the chain
verifies again. A checkpoint taken before the edit and kept elsewhere (signed, so it cannot be
redone as well without the key) catches it: the data must still hold, at each checkpointed
position, the hash the checkpoint names.

The file is JSON: ``{"format", "key", "payload", "signature"}``. ``payload`` holds ``created_at``,
``audit`` (``last_seq``, ``last_hash``) and whatever other sections the caller adds (the ledger
adds its chains); ``signature`` is the Ed25519 signature of the payload's canonical JSON (sorted
keys, no spaces); ``key`` the SHA-256 fingerprint of the public key, for a clear "wrong key".

The private key signs (``CHECKPOINT_KEY_FILE``), the public key verifies
(``CHECKPOINT_PUBLIC_KEY_FILE``); neither is ever in the database. This module belongs to the
audit app and imports nothing from the others.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.management.base import CommandError
from django.utils import timezone

from compassionclub.audit.models import AuditChainHead, AuditRecord

FORMAT = "compassionclub-checkpoint/1"


class CheckpointError(Exception):
    """Anything wrong with a key or a checkpoint, in words an operator can act on."""


def canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def fingerprint(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:32]


def _key_path(given: str | None, setting: str, what: str) -> Path:
    path = given or getattr(settings, setting, "") or os.environ.get(setting, "")
    if not path:
        raise CheckpointError(f"No {what}: pass it with --key/--public-key or set {setting}. "
                              "The key is kept outside the database, on purpose.")
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"The {what} {path} does not exist.")
    return path


def load_private_key(given: str | None = None) -> Ed25519PrivateKey:
    path = _key_path(given, "CHECKPOINT_KEY_FILE", "signing key")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path} is not a PEM private key without a passphrase ({error}).") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path} is not an Ed25519 key.")
    return key


def load_public_key(given: str | None = None) -> Ed25519PublicKey:
    path = _key_path(given, "CHECKPOINT_PUBLIC_KEY_FILE", "public key")
    data = path.read_bytes()
    try:
        if b"PRIVATE KEY" in data:
            private = serialization.load_pem_private_key(data, password=None)
            key = private.public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path} is not a PEM public key ({error}).") from error
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError(f"{path} is not an Ed25519 key.")
    return key


def generate_key(path: str) -> tuple[Path, Path]:
    """Write a new private key to ``path`` (mode 600, never overwritten) and its public key to
    ``path``.pub."""
    private_path, public_path = Path(path), Path(f"{path}.pub")
    if private_path.exists() or public_path.exists():
        raise CheckpointError(f"{private_path} or {public_path} already exists: a key is never overwritten.")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    return private_path, public_path


def audit_head() -> dict[str, Any]:
    head = AuditChainHead.objects.filter(id=1).first()
    return {"last_seq": head.last_seq if head else 0, "last_hash": head.last_hash if head else "0" * 64}


def sign(payload: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    payload = {"created_at": timezone.now().isoformat(), **payload}
    return {
        "format": FORMAT,
        "key": fingerprint(key.public_key()),
        "payload": payload,
        "signature": base64.b64encode(key.sign(canonical(payload))).decode(),
    }


def read(path: str, public_key: Ed25519PublicKey) -> dict[str, Any]:
    """The payload of a checkpoint file whose signature verifies with ``public_key``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CheckpointError(f"The checkpoint {path} cannot be read ({error.strerror}).") from error
    try:
        document = json.loads(text)
    except ValueError as error:
        raise CheckpointError(f"The checkpoint {path} is not complete JSON: it was truncated or damaged.") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT or not isinstance(document.get("payload"), dict):
        raise CheckpointError(f"{path} is not a checkpoint of this application ({FORMAT}).")
    if document.get("key") != fingerprint(public_key):
        raise CheckpointError(f"The checkpoint was signed with key {document.get('key')}, not with the public key "
                              f"given ({fingerprint(public_key)}): wrong key, or a checkpoint signed by someone else.")
    try:
        public_key.verify(base64.b64decode(document.get("signature", ""), validate=True), canonical(document["payload"]))
    except (InvalidSignature, ValueError) as error:
        raise CheckpointError("The checkpoint's signature does not verify: its content was edited after it was signed.") from error
    return document["payload"]


def read_options(options: dict[str, Any]) -> dict[str, Any] | None:
    """The payload of the checkpoint a verify command's ``--checkpoint`` and ``--public-key``
    name, None without ``--checkpoint``; a checkpoint that does not verify stops the command."""
    if not options["checkpoint"]:
        return None
    try:
        return read(options["checkpoint"], load_public_key(options["public_key"]))
    except CheckpointError as error:
        raise CommandError(str(error)) from error


def audit_extends(payload: dict[str, Any]) -> str:
    """'' when the audit trail still holds the checkpointed head; otherwise why not."""
    section = payload.get("audit") or {}
    seq, expected = section.get("last_seq", 0), section.get("last_hash")
    if not seq:
        return ""
    found = AuditRecord.objects.filter(seq=seq).values_list("hash", flat=True).first()
    if found is None:
        return f"audit record #{seq}, the checkpoint's head, is gone (the trail was truncated)"
    if found != expected:
        return rehashed_since(seq, expected) or (
            f"audit record #{seq} no longer has the hash the checkpoint signed: the trail up to it was rewritten")
    return ""


def rehashed_since(seq: int, expected: str) -> str:
    """Why a checkpoint taken before the upgrade that rehashed the trail (audit migration 0004,
    the chain covering a digest of staff addresses) cannot be matched, when the record the
    upgrade appended names that checkpoint's head. Not accepted as a match: whoever rewrote the
    trail could append such a record too. The checkpoint is verified with the release before."""
    bridge = AuditRecord.objects.filter(action="audit.rehashed", seq__gt=seq).order_by("seq").first()
    if bridge is None or not isinstance(bridge.old, dict) or bridge.old.get("last_seq", 0) < seq:
        return ""
    named = bridge.old.get("last_seq") == seq and bridge.old.get("last_hash") == expected
    return (f"the checkpoint predates the upgrade that rehashed the trail at record #{bridge.seq} "
            f"({'which names this checkpoint' + chr(39) + 's head' if named else 'which names a later head'}); "
            "verify it with the release before that upgrade and take a new checkpoint after it")
