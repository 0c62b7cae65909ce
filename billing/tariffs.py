"""Tariffs: the country defaults of the company's offer (seed 000, «КАК ИДЕТ СПИСАНИЕ») as tariff lines, and
which line applies to a partner on a day (its own line if it has one, else the country's; the latest
`effective_from` on or before the day)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils.translation import gettext as _

from geography.models import DistanceBand
from ketlogistic.core import access
from ketlogistic.core.actors import Actor
from ketlogistic.core.countries import facts
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.money import format_money
from ketlogistic.core.services import audit_record

from .models import BillingRun, TariffLine

K = TariffLine.Kind
DEFAULTS_FROM = date(2020, 1, 1)
# The offer's numbers: KZ 2 500 ₸ per order, 6 % of the collected COD by courier, 9 % by post;
# KG 400 сом per order + 40 сом packaging, 3 % of the collected COD.
COUNTRY_DEFAULTS = {
    "KZ": {
        "currency": "KZT",
        K.ORDER_FEE: Decimal("2500"),
        K.COD_COURIER: Decimal("6"),
        K.COD_POST: Decimal("9"),
    },
    "KG": {
        "currency": "KGS",
        K.ORDER_FEE: Decimal("400"),
        K.PACKAGING: Decimal("40"),
        K.COD_COURIER: Decimal("3"),
        K.COD_POST: Decimal("3"),
    },
}


@transaction.atomic
def load_default_tariffs() -> int:
    """The country defaults, the distance bands of the reference data, storage and unscheduled returns from the
    settings. Loading twice adds nothing."""
    created = 0
    for country, values in COUNTRY_DEFAULTS.items():
        currency = values["currency"]
        lines = [(kind, value) for kind, value in values.items() if kind != "currency"]
        lines.append((K.STORAGE, Decimal(settings.STORAGE_FEE_PER_DAY[currency])))
        # only a suggestion to the warehouse, which enters the real transport cost; seed 000 names no amount, so
        # there is a line only where the settings configure one
        if settings.UNSCHEDULED_RETURN_FEE.get(currency):
            lines.append((K.UNSCHEDULED_RETURN, Decimal(settings.UNSCHEDULED_RETURN_FEE[currency])))
        for kind, value in lines:
            percent = kind in (K.COD_COURIER, K.COD_POST)
            _line, made = TariffLine.objects.get_or_create(
                country=country,
                partner=None,
                kind=kind,
                city=None,
                from_km=None,
                effective_from=DEFAULTS_FROM,
                defaults={
                    "currency": currency,
                    "percent" if percent else "amount": value,
                    "note": "Оферта KetLogistic",
                },
            )
            created += made
    for band in DistanceBand.objects.select_related("city"):
        _line, made = TariffLine.objects.get_or_create(
            country=band.city.country,
            partner=None,
            kind=K.DISTANCE,
            city=band.city,
            from_km=band.from_km,
            effective_from=DEFAULTS_FROM,
            defaults={
                "currency": band.currency,
                "amount": band.surcharge,
                "to_km": band.to_km,
                "note": "Доплата за удалённость (оферта)",
            },
        )
        created += made
    return created


def line_for(
    *,
    kind: str,
    country: str,
    partner_id: int | None,
    day: date,
    city_id: int | None = None,
    distance_km: Decimal | None = None,
) -> TariffLine | None:
    """The line that applies: the partner's own, else the country's; the latest effective on `day`."""
    lines = TariffLine.objects.filter(kind=kind, country=country, effective_from__lte=day).filter(
        Q(partner_id=partner_id) | Q(partner__isnull=True)
    )
    if kind == K.DISTANCE:
        lines = lines.filter(city_id=city_id, from_km__lt=distance_km).filter(
            Q(to_km__isnull=True) | Q(to_km__gte=distance_km)
        )
    # the partner's own line first (NULLs, the defaults, last), then the latest
    return lines.order_by(F("partner_id").asc(nulls_last=True), "-effective_from").first()


def warehouse_fee(*, partner, kind: str, day: date) -> Decimal | None:
    """A warehouse service's price for a partner on a day: the tariff line in force, else the settings' default, as the
    default line itself is made (None: none configured). Storage after the contract ended costs exactly this (the
    weekly run charges the line in force, so what the partner is told is what is billed); for an unscheduled return
    it is only the suggestion shown beside the transport cost the warehouse enters, which is what is charged."""
    line = line_for(kind=kind, country=partner.country, partner_id=partner.pk, day=day)
    if line is not None:
        return line.amount
    defaults = {
        K.STORAGE: settings.STORAGE_FEE_PER_DAY,
        K.UNSCHEDULED_RETURN: settings.UNSCHEDULED_RETURN_FEE,
    }
    fee = defaults[kind].get(partner.currency)
    return Decimal(fee) if fee else None


def current_lines(*, country: str, partner_id: int | None, day: date) -> list[TariffLine]:
    """The lines in force on a day for a partner (its own where it has them), for the tariff page."""
    chosen: dict[tuple, TariffLine] = {}
    for line in (
        TariffLine.objects.filter(country=country, effective_from__lte=day)
        .filter(Q(partner_id=partner_id) | Q(partner__isnull=True))
        .select_related("city")
        .order_by("-effective_from")
    ):
        key = (line.kind, line.city_id, line.from_km)
        best = chosen.get(key)
        if best is None or (best.partner_id is None and line.partner_id is not None):
            chosen[key] = line
    return sorted(
        chosen.values(), key=lambda line: (line.kind, line.city.name if line.city else "", line.from_km or 0)
    )


@transaction.atomic
def tariff_line_add(
    *,
    actor: Actor,
    country: str,
    kind: str,
    effective_from: date,
    partner=None,
    amount=None,
    percent=None,
    city=None,
    from_km=None,
    to_km=None,
    note: str = "",
) -> TariffLine:
    """A new price from a date. What was already charged keeps its price; a line charges already used is never
    changed, so a new price always comes as a new line."""
    if not access.can(actor, "billing.finance"):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied
    if partner is not None and partner.country != country:
        raise ApplicationError(_("The partner works in another country."))
    is_percent = kind in (K.COD_COURIER, K.COD_POST, K.DISCOUNT)
    if is_percent and (percent is None or not 0 <= percent <= 100):
        raise ApplicationError(_("Give a percentage between 0 and 100."))
    if not is_percent and (amount is None or amount < 0):
        raise ApplicationError(_("Give an amount of money (zero or more)."))
    if kind == K.DISTANCE and (city is None or from_km is None):
        raise ApplicationError(_("A distance surcharge needs the city and the band (beyond how many km)."))
    charged_until = BillingRun.objects.filter(status=BillingRun.Status.APPROVED).aggregate(
        last=Max("week_end")
    )["last"]
    if charged_until and effective_from < charged_until:
        raise ApplicationError(
            _("Weeks up to %(day)s are charged already: a new price can start on that day or later.")
            % {"day": charged_until.strftime("%d.%m.%Y")}
        )
    if TariffLine.objects.filter(
        country=country, partner=partner, kind=kind, city=city, from_km=from_km, effective_from=effective_from
    ).exists():
        raise ApplicationError(_("A line for this already starts on that date: choose another date."))
    line = TariffLine.objects.create(
        country=country,
        partner=partner,
        kind=kind,
        effective_from=effective_from,
        currency=facts(country).currency,
        amount=None if is_percent else amount,
        percent=percent if is_percent else None,
        city=city,
        from_km=from_km,
        to_km=to_km,
        note=note[:200],
        created_by=actor,
    )
    audit_record(
        actor=actor,
        action="billing.tariff_line_added",
        partner=partner,
        obj=line,
        summary=gettext_message("New price from %(date)s: %(kind)s, %(value)s")
        % {
            "date": line.effective_from.strftime("%d.%m.%Y"),
            "kind": TariffLine.Kind(line.kind).label,
            "value": f"{line.percent}%" if is_percent else format_money(line.amount, line.currency),
        },
    )
    return line
