"""Move assessments to another loaded version of their framework and print what changed."""

import json

from django.core.management.base import BaseCommand, CommandError

from compliance.models import Assessment, Framework
from compliance.services.migration import migrate_assessment
from encompass.exceptions import ValidationError


class Command(BaseCommand):
    help = (
        "Create, for each assessment of FRAMEWORK at --from-version, a successor assessment "
        "against --to-version (loaded beside it with load_frameworks), carrying results by ref "
        "and by 'supersedes', and report carried / changed / added / dropped requirements. "
        "The old assessments are left as they are."
    )

    def add_arguments(self, parser):
        parser.add_argument("framework", help="framework code, e.g. etsi-en-303-645")
        parser.add_argument("--to-version", required=True)
        parser.add_argument("--from-version", help="default: every other loaded version")
        parser.add_argument("--organization", help="organization slug (default: all)")
        parser.add_argument("--assessment", type=int, help="one assessment id")
        parser.add_argument("--dry-run", action="store_true", help="report only, write nothing")
        parser.add_argument("--json", action="store_true", help="print the reports as JSON")

    def handle(self, *args, framework, to_version, from_version=None, organization=None,
               assessment=None, dry_run=False, json=False, **options):  # fmt: skip
        target = Framework.objects.filter(code=framework, version=to_version).first()
        if target is None:
            raise CommandError(f"{framework} {to_version} is not loaded (run load_frameworks).")
        qs = (
            Assessment.objects.filter(framework__code=framework)
            .exclude(framework=target)
            .select_related("framework", "organization")
            .order_by("pk")
        )
        if from_version:
            qs = qs.filter(framework__version=from_version)
        if organization:
            qs = qs.filter(organization__slug=organization)
        if assessment:
            qs = qs.filter(pk=assessment)
        reports = []
        for a in qs:
            try:
                report = migrate_assessment(
                    a, target, actor="command:migrate_assessments", dry_run=dry_run, system=True
                )
            except ValidationError as exc:
                raise CommandError(f"{a.name}: {exc}") from exc
            reports.append(report)
        if json:
            self.stdout.write(_json([r.as_dict() for r in reports]))
            return
        for report in reports:
            for line in report.lines():
                self.stdout.write(line)
        verb = "would be migrated" if dry_run else "migrated"
        self.stdout.write(f"{len(reports)} assessment(s) {verb} to {framework} {to_version}")


def _json(data):
    return json.dumps(data, indent=2, default=str)
