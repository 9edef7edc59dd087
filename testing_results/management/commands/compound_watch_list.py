"""Put a compound on the watch list from the command line (a public drug alert)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from compassionclub.errors import ServiceError
from testing_results.models import Compound
from testing_results.services import compound_watch_list


class Command(BaseCommand):
    help = "Mark a compound harmful and put on hold every released batch whose checks could not rule it out."

    def add_arguments(self, parser):
        parser.add_argument("compound", help="Compound name, exactly as in the admin (e.g. Medetomidine).")
        parser.add_argument("--by", required=True, help="Username of the programme admin acting.")

    def handle(self, *args, **options):
        try:
            compound = Compound.objects.get(name__iexact=options["compound"])
            user = get_user_model().objects.get(username=options["by"])
        except (Compound.DoesNotExist, get_user_model().DoesNotExist) as exc:
            raise CommandError(str(exc))
        try:
            held = compound_watch_list(compound=compound, by=user)
        except ServiceError as exc:
            raise CommandError(f"{exc.code}: {exc}")
        self.stdout.write(f"{compound.name} is on the watch list; {held} released batch{'es' if held != 1 else ''} put on hold.")
