import sys

from django.core.management.base import BaseCommand

from warehouses.ledger import check_ledger


class Command(BaseCommand):
    help = "Prove every stock balance equals its ledger (and none is negative). Exits 1 if not."

    def handle(self, *args, **options):
        problems = check_ledger()
        if problems:
            for problem in problems[:200]:
                self.stderr.write(problem)
            self.stderr.write(f"{len(problems)} inconsistencies")
            sys.exit(1)
        self.stdout.write("Stock ledger consistent: every balance equals its movements")
