"""``manage.py checkpoint``: sign every ledger chain head and the audit head with the Ed25519 key
kept outside the database, and write the checkpoint to a file (or standard output).

``manage.py checkpoint --generate-key FILE`` makes a key pair (FILE, mode 600, and FILE.pub).
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compassionclub.audit import checkpoints
from distributions.checkpoints import checkpoint_payload


class Command(BaseCommand):
    help = "Sign the heads of the ledger's chains and of the audit trail; write the checkpoint."

    def add_arguments(self, parser):
        parser.add_argument("--key", help="Ed25519 private key (PEM); default: CHECKPOINT_KEY_FILE.")
        parser.add_argument("--output", "-o", help="File to write (never overwritten); standard output when absent.")
        parser.add_argument("--generate-key", metavar="FILE", help="Make a new key pair (FILE and FILE.pub) and stop.")

    def handle(self, *args, **options):
        try:
            if options["generate_key"]:
                private, public = checkpoints.generate_key(options["generate_key"])
                self.stdout.write(f"Private key: {private} (keep it off the database server's backups)\n"
                                  f"Public key:  {public} (give it to whoever verifies)")
                return
            key = checkpoints.load_private_key(options["key"])
        except checkpoints.CheckpointError as error:
            raise CommandError(str(error)) from error
        document = checkpoints.sign(checkpoint_payload(), key)
        text = json.dumps(document, indent=1, sort_keys=True) + "\n"
        if options["output"]:
            path = Path(options["output"])
            try:
                with path.open("x", encoding="utf-8") as fh:
                    fh.write(text)
            except FileExistsError as error:
                raise CommandError(f"{path} already exists: a checkpoint is never overwritten.") from error
            payload = document["payload"]
            self.stderr.write(f"Checkpoint written to {path}: {len(payload['ledger']['chains'])} chains, "
                              f"{payload['ledger']['entries']} entries, audit #{payload['audit']['last_seq']}.")
        else:
            self.stdout.write(text, ending="")
