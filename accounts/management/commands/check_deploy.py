"""`make serve` runs this first: a production process must not start on a database whose
migrations are not all applied (every page would be a 500), or without the static manifest
(every page would fail to find its hashed files). One clear line says what to do instead."""

from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError

from chukchat.health import unapplied_migrations


class Command(BaseCommand):
    help = (
        "Refuse to start (exit 1, one line) on unapplied migrations or a missing static manifest."
    )

    def handle(self, *args, **options):
        try:
            unapplied = unapplied_migrations()
        except Exception as error:
            raise CommandError(
                f"refusing to start: the database cannot be reached ({type(error).__name__})"
            ) from None
        if unapplied:
            raise CommandError(
                f"refusing to start: {len(unapplied)} unapplied migrations "
                f"(first {unapplied[0]}); run `make deploy` (or `make migrate`) first"
            )
        storage = storages["staticfiles"]
        if isinstance(storage, ManifestFilesMixin):
            manifest = Path(settings.STATIC_ROOT) / storage.manifest_name
            if not manifest.is_file():
                raise CommandError(
                    f"refusing to start: no static manifest at {manifest}; "
                    "run `make deploy` (or `manage.py collectstatic`) first"
                )
        self.stdout.write("ready to serve: migrations applied, static files collected")
