"""Print the role matrix, or write it into README.md between the roles markers."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from compassionclub.roles import role_matrix_markdown

START, END = "<!-- roles:start -->", "<!-- roles:end -->"


def readme_with_matrix(text: str) -> str:
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    return pattern.sub(lambda _m: f"{START}\n{role_matrix_markdown()}\n{END}", text, count=1)


class Command(BaseCommand):
    help = "Print the role × model × action matrix; --write puts it into README.md."

    def add_arguments(self, parser):
        parser.add_argument("--write", action="store_true")

    def handle(self, *args, **options):
        if not options["write"]:
            self.stdout.write(role_matrix_markdown())
            return
        readme = Path(settings.BASE_DIR) / "README.md"
        readme.write_text(readme_with_matrix(readme.read_text()))
        self.stdout.write("README.md updated.")
