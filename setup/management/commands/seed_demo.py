from django.core.management.base import BaseCommand
from django.utils import translation

from setup.demo import seed_demo
from setup.people import logins_table


class Command(BaseCommand):
    help = (
        "Create the demo data set (partners, products, a login for every role, …), loading the reference data first "
        "when it is missing. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--logins-only", action="store_true", help="Only print the demo logins.")
        parser.add_argument(
            "--no-logins", action="store_true", help="Do not print the logins (make run prints them last)."
        )
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where the site answers (for the API example).",
        )

    def handle(self, *args, logins_only=False, no_logins=False, base_url="http://127.0.0.1:8000", **options):
        with translation.override("ru"):
            if not logins_only:
                seed_demo(report=self.stdout.write)
            if not no_logins:
                self.stdout.write(logins_table(base_url=base_url))
