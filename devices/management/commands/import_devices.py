"""Import devices from a CSV file as a named user (the same service as the API and the UI)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from devices.imports import COLUMNS, import_devices
from encompass.tenancy.models import Organization


class Command(BaseCommand):
    help = f"Import devices from CSV (columns: {', '.join(COLUMNS)}). All or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file", help="path to the CSV file")
        parser.add_argument("--organization", required=True, help="organization slug")
        parser.add_argument("--as", dest="username", required=True, help="acting member's username")
        parser.add_argument("--dry-run", action="store_true", help="check only, write nothing")

    def handle(self, *args, file, organization, username, dry_run, **options):
        org = Organization.objects.filter(slug=organization).first()
        if org is None:
            raise CommandError(f"No organization {organization!r}.")
        actor = get_user_model().objects.filter(username=username, is_active=True).first()
        if actor is None:
            raise CommandError(f"No active user {username!r}.")
        with open(file, "rb") as handle:
            report = import_devices(
                handle, organization=org, actor=actor, dry_run=dry_run, filename=file
            )
        if not report.ok:
            for error in report.errors:
                self.stderr.write(str(error))
            raise CommandError(f"Nothing imported: {len(report.errors)} problem(s).")
        if dry_run:
            self.stdout.write(self.style.SUCCESS(f"Valid: {report.rows} row(s) would be imported."))
        else:
            self.stdout.write(self.style.SUCCESS(f"Imported {len(report.created)} device(s)."))
