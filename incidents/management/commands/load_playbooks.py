"""Install or upgrade the shipped incident playbooks in one or every organization."""

from django.core.management.base import BaseCommand, CommandError

from encompass.tenancy.models import Organization
from incidents.services import load_shipped_playbooks


class Command(BaseCommand):
    help = "Load incidents/playbooks/*.json into an organization (--organization SLUG) or all."

    def add_arguments(self, parser):
        parser.add_argument("--organization", help="Organization slug (default: every one)")

    def handle(self, *args, **options):
        orgs = Organization.objects.order_by("slug")
        if options["organization"]:
            orgs = orgs.filter(slug=options["organization"])
            if not orgs.exists():
                raise CommandError(f"No organization with slug {options['organization']!r}.")
        for org in orgs:
            created, updated = load_shipped_playbooks(org, actor="command:load_playbooks")
            self.stdout.write(f"{org.slug}: {created} created, {updated} upgraded")
