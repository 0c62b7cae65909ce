from importlib import import_module

from django.core.management.base import BaseCommand
from django.utils import translation

# Each app adds its demo data after the ones it depends on. Every step is idempotent.
DEMO_STEPS = [
    "ketlogistic.core.demo",
    "warehouses.demo",
    "orders.demo",
    "callcenter.demo",
    "orders.delivery.demo",
    "billing.demo",
    "integrations.demo",
]


class Command(BaseCommand):
    help = "Create the demo data set (partners, products, a login for every role, …). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--logins-only", action="store_true", help="Only print the demo logins.")

    def handle(self, *args, logins_only=False, **options):
        from ketlogistic.core.demo import logins_table

        with translation.override("ru"):
            if not logins_only:
                context: dict = {}
                for step in DEMO_STEPS:
                    result = import_module(step).seed(context=context)
                    context.update(result or {})
                    self.stdout.write(f"Demo data: {step} done")
            self.stdout.write(logins_table())
