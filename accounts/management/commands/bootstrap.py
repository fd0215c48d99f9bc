import secrets
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.sites.models import Site
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.api_keys import api_key_create
from accounts.models import User
from aiapi.catalogue import catalogue_load_file
from billing.ledger import credit_grant

DEMO_EMAIL = "demo@chuk.chat"


class Command(BaseCommand):
    help = "First-run setup for `make run`: model catalogue, site, and a demo admin with a key."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-demo",
            action="store_true",
            help="Production (`make deploy`): catalogue and site only, no demo admin or key.",
        )

    def handle(self, *args, **options):
        result = catalogue_load_file(path=settings.MODEL_CATALOGUE_FILE)
        self.stdout.write(
            f"Model catalogue: {result.models_created} created, {result.models_updated} updated."
        )
        host = settings.SITE_URL.split("://", 1)[-1]
        Site.objects.update_or_create(
            pk=settings.SITE_ID, defaults={"domain": host, "name": "Chuk Chat"}
        )
        if options["no_demo"]:
            return
        if User.objects.exists():
            self.stdout.write(
                "Users already exist; no demo user created. "
                "New key: python manage.py createapikey EMAIL"
            )
            return
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            user = User.objects.create_superuser(email=DEMO_EMAIL, password=password)
            EmailAddress.objects.create(user=user, email=DEMO_EMAIL, verified=True, primary=True)
            credit_grant(user=user, amount=Decimal("5"), description="Demo credit")
            _, plaintext = api_key_create(user=user, name="demo")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Demo account created (shown once; keep it):",
                    f"  admin login: {DEMO_EMAIL} / {password}  ->  {settings.SITE_URL}/admin/",
                    f"  API key:     {plaintext}",
                    f"  try: curl {settings.SITE_URL}/v1/models -H 'Authorization: Bearer {plaintext}'",
                    "",
                ]
            )
        )
