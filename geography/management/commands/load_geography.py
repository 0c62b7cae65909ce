from django.core.management.base import BaseCommand

from geography.loader import load_geography


class Command(BaseCommand):
    help = "Load the reference settlements, distance bands, warehouses and shipping groups (idempotent)."

    def handle(self, *args, **options):
        counts = load_geography()
        self.stdout.write(
            f"Geography: {counts['cities']} settlements ({counts['express']} express), "
            f"{counts['bands']} distance bands, {counts['warehouses']} warehouses, "
            f"{counts['shipping_groups']} shipping groups"
        )
