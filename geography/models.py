"""Geography: the settlements the company serves, their distance bands, the shipping groups and the warehouses.

The ground the business stands on (seed 000, the company's offer): every order names a city, every stock place and
every registry a warehouse. Tables keep the names they had in `warehouses` (the models moved here in issue 16).
"""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from ketlogistic.core.countries import Country
from ketlogistic.core.money import MoneyField


class City(models.Model):
    """A settlement the company serves (населённый пункт), from the reference list in the company's offer."""

    class DeliveryMode(models.TextChoices):
        EXPRESS = "express", _("Express (own warehouse, next-day delivery)")
        FIELD = "field", _("Field trips (выездной)")

    country = models.CharField(_("country"), max_length=2, choices=Country.choices)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("name in English"), max_length=100)
    aliases = ArrayField(
        models.CharField(max_length=100), default=list, blank=True, verbose_name=_("other spellings")
    )
    delivery_mode = models.CharField(_("delivery"), max_length=10, choices=DeliveryMode.choices)
    timezone = models.CharField(_("time zone"), max_length=64)
    served_from = models.ForeignKey(
        "self",
        verbose_name=_("served from"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="field_cities",
        help_text=_("For field-trip settlements: the express city whose warehouse serves it"),
    )
    shipping_group = models.PositiveSmallIntegerField(_("shipping group"), null=True, blank=True)
    transit_days = models.PositiveSmallIntegerField(
        _("transit days from the main warehouse"), null=True, blank=True
    )
    point_a = models.CharField(_("point A"), max_length=200, blank=True)
    is_emergency = models.BooleanField(
        _("emergency (ЧС)"),
        default=False,
        help_text=_("Transfers take two days longer (3–5 days instead of 1–3)"),
    )

    class Meta:
        db_table = "warehouses_city"
        verbose_name = _("city")
        verbose_name_plural = _("cities")
        ordering = ["country", "name"]
        constraints = [
            models.UniqueConstraint(fields=["country", "name"], name="city_unique_name"),
            models.CheckConstraint(
                condition=Q(shipping_group__in=[1, 2]) | Q(shipping_group__isnull=True),
                name="city_shipping_group_1_or_2",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name_en if (get_language() or "ru").startswith("en") else self.name

    @property
    def is_express(self) -> bool:
        return self.delivery_mode == self.DeliveryMode.EXPRESS

    @property
    def effective_transit_days(self) -> int:
        return (self.transit_days or 0) + (2 if self.is_emergency else 0)


class DistanceBand(models.Model):
    """Surcharge for delivering beyond a city's free radius around its point A (доставка с доплатой)."""

    city = models.ForeignKey(City, on_delete=models.CASCADE, related_name="distance_bands")
    from_km = models.DecimalField(_("from, km (exclusive)"), max_digits=6, decimal_places=1)
    to_km = models.DecimalField(
        _("to, km (inclusive)"), max_digits=6, decimal_places=1, null=True, blank=True
    )
    surcharge = MoneyField(_("surcharge"))
    currency = models.CharField(_("currency"), max_length=3, default="KZT")

    class Meta:
        db_table = "warehouses_distanceband"
        verbose_name = _("distance band")
        verbose_name_plural = _("distance bands")
        ordering = ["city", "from_km"]
        constraints = [
            models.UniqueConstraint(fields=["city", "from_km"], name="distance_band_unique"),
            models.CheckConstraint(
                condition=Q(to_km__isnull=True) | Q(to_km__gt=models.F("from_km")), name="distance_band_order"
            ),
            models.CheckConstraint(
                condition=Q(surcharge__gte=0), name="distance_band_surcharge_not_negative"
            ),
        ]

    def __str__(self) -> str:
        upper = f"{self.to_km}" if self.to_km is not None else "∞"
        return f"{self.city}: {self.from_km}–{upper} km → {self.surcharge} {self.currency}"


class Warehouse(models.Model):
    """The main warehouse in Astana, and one modular warehouse in every express city."""

    class Kind(models.TextChoices):
        MAIN = "main", _("Main warehouse")
        CITY = "city", _("City warehouse")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    city = models.OneToOneField(
        City, verbose_name=_("city"), on_delete=models.PROTECT, related_name="warehouse"
    )
    name = models.CharField(_("name"), max_length=120)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        db_table = "warehouses_warehouse"
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")
        ordering = ["-kind", "city__name"]
        constraints = [
            models.UniqueConstraint(fields=["kind"], condition=Q(kind="main"), name="one_main_warehouse"),
        ]

    def __str__(self) -> str:
        return self.name


class ShippingGroup(models.Model):
    """The served cities are split into two groups; each group receives goods on its three weekdays."""

    number = models.PositiveSmallIntegerField(_("group"), unique=True)
    weekdays = ArrayField(
        models.PositiveSmallIntegerField(),
        verbose_name=_("shipping weekdays"),
        help_text=_("ISO weekday numbers: 1 = Monday … 7 = Sunday"),
    )

    class Meta:
        db_table = "warehouses_shippinggroup"
        verbose_name = _("shipping group")
        verbose_name_plural = _("shipping groups")
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.number}: {self.weekdays}"
