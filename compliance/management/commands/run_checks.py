"""Run the automated compliance checks now (the scheduler runs them every interval)."""

from django.core.management.base import BaseCommand, CommandError

from compliance.services.checks import run_checks
from encompass.tenancy.models import Organization


class Command(BaseCommand):
    help = "Run the automated compliance checks for one organization (--organization) or all."

    def add_arguments(self, parser):
        parser.add_argument("--organization", help="organization slug (default: every one)")
        parser.add_argument("--check", action="append", dest="checks", help="a check code")

    def handle(self, *args, organization=None, checks=None, **options):
        orgs = Organization.objects.order_by("pk")
        if organization:
            orgs = orgs.filter(slug=organization)
            if not orgs.exists():
                raise CommandError(f"No organization with slug {organization!r}.")
        for org in orgs:
            runs = run_checks(org, actor="command:run_checks", codes=checks, system=True)
            self.stdout.write(f"{org.slug}:")
            for run in runs:
                state = "n/a " if run.passed is None else ("PASS" if run.passed else "FAIL")
                self.stdout.write(f"  {state} {run.check_code}: {run.summary}")
