"""All reference data, in the order the floors need it: geography (with the shipping groups), working calendars,
default tariffs, the call script. Every step is idempotent: loading twice changes nothing."""

from dataclasses import dataclass

from django.db import transaction

from billing.tariffs import load_default_tariffs
from callcenter.scripts import load_default_script
from geography.loader import load_geography
from geography.models import City, ShippingGroup
from ketlogistic.core.reference import load_calendars


@dataclass(frozen=True)
class ReferenceLoaded:
    geography: dict[str, int]
    calendars: dict[str, int]
    tariff_lines_added: int
    script_sections: int

    def lines(self) -> list[str]:
        geo = self.geography
        return [
            f"Geography: {geo['cities']} settlements ({geo['express']} express), "
            f"{geo['bands']} distance bands, {geo['warehouses']} warehouses, {geo['shipping_groups']} shipping groups",
            f"Calendars: {self.calendars['calendars']} countries, {self.calendars['exceptions']} holidays",
            f"Tariff lines: {self.tariff_lines_added} added",
            f"Call script: {self.script_sections} sections",
        ]


@transaction.atomic
def load_reference_data() -> ReferenceLoaded:
    geography = load_geography()
    calendars = load_calendars()
    tariff_lines_added = load_default_tariffs()
    script = load_default_script()
    return ReferenceLoaded(geography, calendars, tariff_lines_added, script.sections.count())


def reference_data_missing() -> bool:
    """True on a database that was migrated but never given its reference data."""
    return not City.objects.exists() or not ShippingGroup.objects.exists()
