from django.core.management.base import BaseCommand

from encompass.schedules import sync


class Command(BaseCommand):
    help = "Write the recurring jobs the apps declare into django-q2's schedule table."

    def handle(self, *args, **options):
        count, removed = sync()
        self.stdout.write(self.style.SUCCESS(f"{count} schedule(s) in place, {removed} removed"))
