"""``manage.py enrolment_code USERNAME``: a one-time two-factor enrolment code for a staff
user, printed once (for the first programme admin, whom nobody else can give one to)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from compassionclub.errors import ServiceError
from compassionclub.security import services


class Command(BaseCommand):
    help = "Issue a one-time two-factor enrolment code for a staff user; it is printed once."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user called {username!r}.")
        try:
            code = services.enrolment_code_issue(user=user, by=None)
        except ServiceError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Enrolment code for {username}: {code}\nHand it over in person; it works once, "
                          f"for the hours TWO_FACTOR_ENROLMENT_CODE_HOURS says (72 by default).")
