from django.core.management.base import BaseCommand

from setup.reference import load_reference_data


class Command(BaseCommand):
    help = "Load all reference data (geography, working calendars, …). Idempotent: running it twice changes nothing."

    def handle(self, *args, **options):
        for line in load_reference_data().lines():
            self.stdout.write(line)
