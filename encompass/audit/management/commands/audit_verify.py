"""Verify the audit trail's hash chains; exit non-zero if any entry was edited or removed."""

from django.core.management.base import BaseCommand, CommandError

from encompass.audit.verification import verify_all
from encompass.tenancy.models import Organization


class Command(BaseCommand):
    help = (
        "Verify every audit chain (or one organization's) and report tampering. By default only "
        "the entries after each chain's checkpoint are read; --full reads every entry (and checks "
        "the chain still passes through the checkpoint). A clean walk moves the checkpoint."
    )

    def add_arguments(self, parser):
        parser.add_argument("--organization", help="slug of one organization to verify")
        parser.add_argument(
            "--full",
            action="store_true",
            help="walk every entry, not only those since the checkpoint",
        )
        parser.add_argument(
            "--no-checkpoint", action="store_true", help="do not store a new checkpoint"
        )
        parser.add_argument(
            "--batch", type=int, default=2000, help="entries fetched per round trip (default 2000)"
        )

    def handle(self, *args, **options):
        keys = None
        if options["organization"]:
            org = Organization.objects.filter(slug=options["organization"]).first()
            if org is None:
                raise CommandError(f"No organization with slug {options['organization']!r}")
            keys = [str(org.pk)]
        if options["batch"] < 1:
            raise CommandError("--batch must be at least 1")
        reports = verify_all(
            keys,
            batch=options["batch"],
            since_checkpoint=not options["full"],
            save_checkpoint=not options["no_checkpoint"],
        )
        failed = [r for r in reports if not r.ok]
        for report in reports:
            status = "ok" if report.ok else "TAMPERED"
            since = f" after checkpoint #{report.started_after}" if report.started_after else ""
            self.stdout.write(
                f"chain {report.key}: {report.entries} entries read{since}, "
                f"ends at #{report.last_sequence}, {status}"
            )
            for problem in report.problems:
                self.stdout.write(f"  - {problem}")
            if report.more_problems:
                self.stdout.write(f"  - ... and {report.more_problems} more problems")
        if failed:
            raise CommandError(f"{len(failed)} audit chain(s) failed verification")
        self.stdout.write(self.style.SUCCESS(f"{len(reports)} chain(s) verified intact"))
