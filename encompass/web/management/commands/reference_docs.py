from django.core.management.base import BaseCommand, CommandError

from encompass import reference


class Command(BaseCommand):
    help = (
        "Write the reference pages generated from the code (docs/reference/: environment "
        "variables, management commands, API operations, recurring jobs)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check",
            action="store_true",
            help="Write nothing; fail naming each page that is out of date.",
        )

    def handle(self, *args, check=False, **options):
        if check:
            stale = reference.stale_pages()
            if stale:
                raise CommandError(
                    f"docs/reference is out of date: {', '.join(stale)}. "
                    "Run `manage.py reference_docs` and commit the result."
                )
            self.stdout.write(self.style.SUCCESS("docs/reference is up to date."))
            return
        written = reference.write()
        self.stdout.write(
            self.style.SUCCESS(f"{len(written)} page(s) written: {', '.join(written) or 'none'}")
        )
