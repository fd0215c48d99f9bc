from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.api_keys import api_key_create
from accounts.services import user_get_or_create
from billing.ledger import credit_grant


class Command(BaseCommand):
    help = "Create an API key for EMAIL (creating the user if needed); prints the key last."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--credits", default=None, help="USD to grant through the ledger")
        parser.add_argument("--name", default="default")

    def handle(self, *args, email: str, credits: str | None, name: str, **options):
        amount = None
        if credits is not None:
            try:
                amount = Decimal(credits)
            except InvalidOperation:
                raise CommandError(f"--credits must be a number of USD, not {credits!r}") from None
            if amount <= 0 or not amount.is_finite():
                raise CommandError("--credits must be a positive amount of USD")
        with transaction.atomic():
            try:
                user, created = user_get_or_create(email=email)
            except ValueError as error:
                raise CommandError(str(error)) from None
            if amount is not None:
                credit_grant(user=user, amount=amount, description="Granted by createapikey")
            api_key, plaintext = api_key_create(user=user, name=name)
        self.stderr.write(
            f"{'Created' if created else 'Found'} user {user.email}; "
            f"key {api_key.prefix}… named {api_key.name!r}"
            + (f"; granted {amount} USD" if amount is not None else "")
        )
        self.stdout.write(plaintext)
