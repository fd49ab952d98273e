"""Load or upgrade the framework catalogues from ``compliance/frameworks/`` (idempotent)."""

from django.core.management.base import BaseCommand, CommandError

from compliance.services.assessments import sync_results
from compliance.services.loading import FrameworkDataError, load_catalogue


class Command(BaseCommand):
    help = (
        "Load the framework catalogues (ETSI EN 303 645, NIST CSF 2.0, IEC 62443-4-2, ISO/IEC "
        "27001 Annex A) and their mappings. A newer data_revision upgrades; an equal or older "
        "one changes nothing; any invalid file aborts the whole load."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", help="framework JSON files (default: all shipped)")
        parser.add_argument("--mappings", help="a mappings JSON file to load with the files")

    def handle(self, *args, files=None, mappings=None, **options):
        try:
            report = load_catalogue(files or None, mappings_path=mappings)
        except FrameworkDataError as exc:
            for problem in exc.problems:
                self.stderr.write(f"  {problem}")
            raise CommandError(
                f"{len(exc.problems)} problem(s) in the framework data; nothing was loaded."
            ) from exc
        from compliance.models import Assessment

        added = sum(sync_results(a) for a in Assessment.objects.select_related("framework"))
        for line in report.lines():
            self.stdout.write(line)
        if added:
            self.stdout.write(f"{added} new requirement result(s) added to existing assessments")
