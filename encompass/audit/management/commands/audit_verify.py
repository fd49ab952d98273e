"""Verify the audit trail's hash chains; exit non-zero if any entry was edited or removed."""

from django.core.management.base import BaseCommand, CommandError

from encompass.audit.services import verify_all
from encompass.tenancy.models import Organization


class Command(BaseCommand):
    help = "Verify every audit chain (or one organization's) and report tampering."

    def add_arguments(self, parser):
        parser.add_argument("--organization", help="slug of one organization to verify")

    def handle(self, *args, **options):
        keys = None
        if options["organization"]:
            org = Organization.objects.filter(slug=options["organization"]).first()
            if org is None:
                raise CommandError(f"No organization with slug {options['organization']!r}")
            keys = [str(org.pk)]
        reports = verify_all(keys)
        failed = [r for r in reports if not r.ok]
        for report in reports:
            status = "ok" if report.ok else "TAMPERED"
            self.stdout.write(f"chain {report.key}: {report.entries} entries, {status}")
            for problem in report.problems:
                self.stdout.write(f"  - {problem}")
        if failed:
            raise CommandError(f"{len(failed)} audit chain(s) failed verification")
        self.stdout.write(self.style.SUCCESS(f"{len(reports)} chain(s) verified intact"))
