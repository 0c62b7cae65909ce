from django.core.management.base import BaseCommand

from ketlogistic.core.reference import load_calendars
from warehouses.geography import load_geography


class Command(BaseCommand):
    help = "Load all reference data (geography, working calendars, …). Idempotent: running it twice changes nothing."

    def handle(self, *args, **options):
        geo = load_geography()
        self.stdout.write(
            f"Geography: {geo['cities']} settlements ({geo['express']} express), "
            f"{geo['bands']} distance bands, {geo['warehouses']} warehouses"
        )
        counts = load_calendars()
        self.stdout.write(f"Calendars: {counts['calendars']} countries, {counts['exceptions']} holidays")
        from callcenter.scripts import load_default_script
        from warehouses.models import ShippingGroup

        for number, weekdays in ((1, [1, 3, 5]), (2, [2, 4, 6])):
            ShippingGroup.objects.get_or_create(number=number, defaults={"weekdays": weekdays})
        from billing.tariffs import load_default_tariffs

        self.stdout.write(f"Tariff lines: {load_default_tariffs()} added")
        script = load_default_script()
        self.stdout.write(f"Call script: {script.sections.count()} sections")
