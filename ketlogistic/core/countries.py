"""The two countries the company works in, with what follows from each: currency, time zone, phone code."""

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import models
from django.utils.translation import gettext_lazy as _


class Country(models.TextChoices):
    KZ = "KZ", _("Kazakhstan")
    KG = "KG", _("Kyrgyzstan")


@dataclass(frozen=True)
class CountryFacts:
    currency: str
    timezone: str
    phone_code: str  # international prefix without "+"
    national_number_length: int  # digits after the prefix

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


FACTS: dict[str, CountryFacts] = {
    Country.KZ: CountryFacts(
        currency="KZT", timezone="Asia/Almaty", phone_code="7", national_number_length=10
    ),
    Country.KG: CountryFacts(
        currency="KGS", timezone="Asia/Bishkek", phone_code="996", national_number_length=9
    ),
}


def facts(country: str) -> CountryFacts:
    return FACTS[country]


def zone_of(country: str) -> ZoneInfo:
    return FACTS[country].zone
