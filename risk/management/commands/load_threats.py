"""Load (or refresh) the shipped IoT threat catalogue from risk/data/threats.json."""

from django.core.management.base import BaseCommand, CommandError

from encompass.exceptions import ValidationError
from risk.services.threats import CATALOGUE_FILE, load_threat_catalogue


class Command(BaseCommand):
    help = "Create or update the shipped threat catalogue. Safe to run any number of times."

    def add_arguments(self, parser):
        parser.add_argument("--file", default=str(CATALOGUE_FILE), help="catalogue JSON file")

    def handle(self, *args, **options):
        try:
            created, updated, unchanged = load_threat_catalogue(path=options["file"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Threat catalogue: {created} created, {updated} updated, {unchanged} unchanged."
            )
        )
