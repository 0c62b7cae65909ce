import sys

from django.core.management.base import BaseCommand

from billing.ledger import check_ledger


class Command(BaseCommand):
    help = (
        "Prove the billing ledger: every posting sealed, unchanged and balanced, every balance checkpoint the sum of "
        "its account's entries up to it; exits 1 if not."
    )

    def handle(self, *args, **options):
        problems = check_ledger()
        if problems:
            for problem in problems[:200]:
                self.stderr.write(problem)
            self.stderr.write(f"{len(problems)} problems in the ledger")
            sys.exit(1)
        self.stdout.write(
            "Billing ledger consistent: every posting is sealed, unchanged and balanced, every balance checkpoint "
            "holds the sum of its entries"
        )
