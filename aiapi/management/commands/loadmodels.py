from django.core.management.base import BaseCommand, CommandError

from aiapi.catalogue import CatalogueError, catalogue_load_file


class Command(BaseCommand):
    help = "Upsert providers and models from a TOML catalogue file (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file: str, **options):
        try:
            result = catalogue_load_file(path=file)
        except CatalogueError as error:
            raise CommandError(f"{file}: {error}. Nothing was changed.") from None
        self.stdout.write(
            f"Loaded {file}: providers {result.providers_created} created, "
            f"{result.providers_updated} updated; models {result.models_created} created, "
            f"{result.models_updated} updated."
        )
