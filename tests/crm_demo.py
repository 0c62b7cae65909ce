"""`make run`'s demo CRMs: the RetailCRM and Bitrix24 doubles of the connector tests (`tests/retailcrm_double.py`,
`tests/bitrix24_double.py`, the same code, not a copy) served on fixed local ports with orders the demo partner can
really take, so that anyone can try the CRM connectors with no real CRM.

    python -m tests.crm_demo [--retailcrm-port 8791] [--bitrix24-port 8792] [--ready-file PATH]

`ketlogistic.devstack run` starts it beside web, worker and beat (never in docker-compose.yml: it is a developer's
tool) with the same environment (settings `ketlogistic.settings.local`, which let connectors call http and
127.0.0.1), and prints the text written to `--ready-file` (how to connect each one) after the demo logins.

What it holds, read from our database when it starts (the demo data of `manage.py seed_demo`):

* a RetailCRM account at http://127.0.0.1:8791 (API key `demo-retailcrm-key`) with RetailCRM's usual statuses
  (new, availability-confirmed, send-to-delivery «Передан в доставку», delivering, complete, cancel-other) and one
  store; five orders «Передан в доставку» and one still «Новый» (not given to delivery: never taken);
* a Bitrix24 portal with the inbound webhook http://127.0.0.1:8792/rest/1/demodemo1234/, a pipeline «Доставка»
  (NEW, READY «Передан в доставку», ON_THE_WAY, WON, LOSE) beside the default one; five deals at READY and one at
  NEW (from ID 5001: our external ids are unique per partner, and RetailCRM's orders are numbered from 101),
  each with a contact (phone, city, address) and product rows whose products' XML_ID is our SKU;
* the orders are the demo partner's (Алем Трейд): its live SKUs and prices, cities we serve in its country, KZ
  mobile numbers, sums in its currency (tenge). Orders it took in an earlier `make run` are put back with the last
  status we sent (they are known by their CRM id in our database), and the new ones get ids after them, so that
  every start brings orders to take.

Each serves a read-only page at `/` (its orders or deals, their status, every status our system set, with times).
A port already taken is said and that CRM left out; the rest of `make run` goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

RETAILCRM_PORT = 8791
BITRIX24_PORT = 8792
RETAILCRM_KEY = "demo-retailcrm-key"
RETAILCRM_SITE = ("alem-trade", "Интернет-магазин «Алем Трейд»")
RETAILCRM_WAITING = "send-to-delivery"
RETAILCRM_NOT_YET = "new"
RETAILCRM_MAP = {
    "to_send": "delivering",
    "paid": "complete",
    "refused": "cancel-other",
    "returned": "cancel-other",
    "not_reached": "cancel-other",
    "cancelled": "cancel-other",
}
BITRIX24_USER = "1"
BITRIX24_CODE = "demodemo1234"
PIPELINE = 1
PIPELINE_NAME = "Доставка"
STAGES = [
    ("NEW", "Новая заявка"),
    ("READY", "Передан в доставку"),
    ("ON_THE_WAY", "В доставке"),
    ("WON", "Оплачен", "success"),
    ("LOSE", "Отказ", "failure"),
]
BITRIX24_WAITING = f"C{PIPELINE}:READY"
BITRIX24_NOT_YET = f"C{PIPELINE}:NEW"
BITRIX24_MAP = {
    "to_send": f"C{PIPELINE}:ON_THE_WAY",
    "paid": f"C{PIPELINE}:WON",
    "refused": f"C{PIPELINE}:LOSE",
    "returned": f"C{PIPELINE}:LOSE",
    "not_reached": f"C{PIPELINE}:LOSE",
    "cancelled": f"C{PIPELINE}:LOSE",
}
# Our external ids are the CRM's ids and are unique per partner, whatever channel brought them: the two demo CRMs
# number apart, so that the one demo partner can take the orders of both.
RETAILCRM_FIRST_ID = 101
BITRIX24_FIRST_ID = 5001
PREFERRED_CITIES = ("Алматы", "Астана", "Шымкент", "Караганда", "Актобе")
# last name, first name, phone ({crm}: 1 for RetailCRM, 2 for Bitrix24, so the two never share a customer), street
# and house, flat, comment; the last one is not given to delivery yet
CUSTOMERS = (
    ("Серикова", "Айдана", "+7 701 55{crm} 20 01", "пр. Абая, 10", "кв. 5", "звонить после 12"),
    ("Ахметов", "Нурлан", "+7 702 55{crm} 20 02", "ул. Кенесары, 40", "кв. 12", ""),
    ("Жумабаева", "Гульмира", "8 (705) 55{crm}-20-03", "ул. Байтурсынова, 7", "кв. 3", "домофон не работает"),
    ("Ким", "Виктор", "+7 707 55{crm} 20 04", "ул. Ерубаева, 25", "офис 4", "в рабочее время"),
    ("Омарова", "Алия", "+7 747 55{crm} 20 05", "мкр. Жетысу-2, 14", "кв. 40", ""),
    ("Касымов", "Тимур", "+7 777 55{crm} 20 06", "ул. Толе би, 101", "кв. 8", ""),
)


def say(message: str) -> None:
    print(f"[crm-demo] {message}", flush=True)


class DemoDataMissing(Exception):
    """Our database has no demo partner with live products: `manage.py seed_demo` was not run."""


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    quantity: int
    price: Decimal


@dataclass(frozen=True)
class Customer:
    last_name: str
    first_name: str
    phone: str
    city: str
    street: str
    flat: str
    comment: str
    items: tuple[Item, ...]
    waiting: bool  # given to delivery (else still new in the CRM: the connector must not take it)

    @property
    def total(self) -> Decimal:
        return sum((i.price * i.quantity for i in self.items), Decimal(0))


@dataclass
class DemoData:
    """What the demo CRMs hold, read from our database."""

    login: str
    currency: str
    products: list[tuple[str, str, Decimal]]  # sku, name, price
    customers: dict[str, list[Customer]]  # per CRM kind
    taken: dict[str, list] = field(default_factory=dict)  # per CRM kind: CrmOrderLink of an earlier run


def _number(value: Decimal) -> int | float:
    """A sum as RetailCRM's JSON has it: a number."""
    return int(value) if value == value.to_integral_value() else float(value)


def demo_data(*, retailcrm_url: str = "", bitrix24_url: str = "") -> DemoData:
    """The demo partner's orders for each CRM: its live products, cities we serve in its country; and the orders it
    already took from a demo CRM at these addresses (by the connector's address)."""
    from catalogue.models import Product
    from geography.models import City
    from integrations.demo import DEMO_PARTNER
    from integrations.models import CrmOrderLink
    from ketlogistic.core.models import Partner
    from ketlogistic.core.roles import Role
    from setup.people import LOGINS

    partner = Partner.objects.filter(name=DEMO_PARTNER).first()
    products = (
        list(Product.objects.filter(partner=partner, is_test=False, is_active=True).order_by("sku"))
        if partner
        else []
    )
    if partner is None or not products:
        raise DemoDataMissing(f"no demo partner «{DEMO_PARTNER}» with live products: run manage.py seed_demo")
    by_name = {c.name: c for c in City.objects.filter(country=partner.country, name__in=PREFERRED_CITIES)}
    cities = [by_name[n].name for n in PREFERRED_CITIES if n in by_name] or list(
        City.objects.filter(country=partner.country, delivery_mode=City.DeliveryMode.EXPRESS)
        .order_by("name")
        .values_list("name", flat=True)[:5]
    )
    if not cities:
        raise DemoDataMissing(f"no city served in {partner.country}: run manage.py load_reference_data")
    login = next(
        (x.username for x in LOGINS if x.partner == DEMO_PARTNER and x.role == Role.PARTNER_ADMIN),
        "partner_kz",
    )
    customers: dict[str, list[Customer]] = {}
    for crm, kind in ((1, "retailcrm"), (2, "bitrix24")):
        rows = []
        for index, (last, first, phone, street, flat, comment) in enumerate(CUSTOMERS):
            chosen = [products[(index + crm) % len(products)]]
            if index % 2 == 1 and len(products) > 1:
                chosen.append(products[(index + crm + 1) % len(products)])
            rows.append(
                Customer(
                    last_name=last,
                    first_name=first,
                    phone=phone.format(crm=crm),
                    city=cities[index % len(cities)],
                    street=street,
                    flat=flat,
                    comment=comment,
                    items=tuple(
                        Item(p.sku, p.name, 1 + (index + position) % 2, p.price or Decimal(1000))
                        for position, p in enumerate(chosen)
                    ),
                    waiting=index < len(CUSTOMERS) - 1,
                )
            )
        customers[kind] = rows
    taken = {}
    for kind, url in (("retailcrm", retailcrm_url), ("bitrix24", bitrix24_url)):
        taken[kind] = (
            list(
                CrmOrderLink.objects.filter(
                    partner=partner, connector__kind=kind, connector__url__startswith=url
                )
                .select_related("order__city")
                .prefetch_related("order__items__product")
                .order_by("id")
            )
            if url
            else []
        )
    return DemoData(
        login=login,
        currency=partner.currency,
        products=[(p.sku, p.name, p.price or Decimal(1000)) for p in products],
        customers=customers,
        taken=taken,
    )


def _numeric_ids(links) -> list[tuple[int, object]]:
    return sorted(((int(link.crm_id), link) for link in links if link.crm_id.isdigit()), key=lambda x: x[0])


def seed_retailcrm(crm, data: DemoData) -> None:
    """Orders taken before (back at the status we sent last), then the new ones after the highest id."""
    site = RETAILCRM_SITE[0]
    restored = _numeric_ids(data.taken.get("retailcrm", []))
    for crm_id, link in restored:
        order = link.order
        crm.add_order(
            id=crm_id,
            number=link.crm_number or f"{crm_id}A",
            site=link.crm_site or site,
            status=link.sent_code or RETAILCRM_WAITING,
            lastName=order.customer_name,
            totalSumm=_number(order.cod_amount),
            prepaySum=0,
            delivery={"code": "courier", "address": {"city": order.city.name, "text": order.address}},
            items=[
                {
                    "quantity": i.quantity,
                    "initialPrice": _number(i.unit_price),
                    "discountTotal": 0,
                    "offer": {"article": i.product.sku, "name": i.product.name},
                }
                for i in order.items.all()
            ],
            customerComment="taken by KetLogistic in an earlier make run",
        )
    next_id = max([RETAILCRM_FIRST_ID - 1, *(i for i, _link in restored)]) + 1
    for offset, customer in enumerate(data.customers["retailcrm"]):
        crm.add_order(
            id=next_id + offset,
            site=site,
            status=RETAILCRM_WAITING if customer.waiting else RETAILCRM_NOT_YET,
            lastName=customer.last_name,
            firstName=customer.first_name,
            phone=customer.phone,
            customerComment=customer.comment,
            totalSumm=_number(customer.total),
            # the second order was paid in part online: the courier collects the rest
            prepaySum=5000 if offset == 1 else 0,
            delivery={
                "code": "courier",
                "address": {"city": customer.city, "text": f"{customer.street}, {customer.flat}"},
            },
            items=[
                {
                    "quantity": i.quantity,
                    "initialPrice": _number(i.price),
                    "discountTotal": 0,
                    "offer": {"article": i.sku, "externalId": i.sku, "xmlId": i.sku, "name": i.name},
                }
                for i in customer.items
            ],
        )


def seed_bitrix24(portal, data: DemoData) -> None:
    """The pipeline «Доставка», the partner's products (XML_ID = our SKU), deals taken before (at the stage we
    sent last), then the new deals after the highest ID."""
    portal.add_pipeline(PIPELINE, PIPELINE_NAME, STAGES)
    products = {
        sku: portal.add_product(name=name, xml_id=sku, price=str(price)) for sku, name, price in data.products
    }
    restored = _numeric_ids(data.taken.get("bitrix24", []))
    for crm_id, link in restored:
        order = link.order
        contact = portal.add_contact(
            last_name=order.customer_name, city=order.city.name, address=order.address
        )
        portal.add_deal(
            deal_id=crm_id,
            stage=link.sent_code or BITRIX24_WAITING,
            title=f"Заказ {crm_id} (taken in an earlier make run)",
            contact=contact,
            rows=[
                (products.get(i.product.sku), i.quantity, str(i.unit_price), i.product.name)
                for i in order.items.all()
            ],
            opportunity=str(order.cod_amount),
            currency=data.currency,
        )
    next_id = max([BITRIX24_FIRST_ID - 1, *(i for i, _link in restored)]) + 1
    for offset, customer in enumerate(data.customers["bitrix24"]):
        contact = portal.add_contact(
            name=customer.first_name,
            last_name=customer.last_name,
            phones=[customer.phone],
            city=customer.city,
            address=customer.street,
            address_2=customer.flat,
        )
        portal.add_deal(
            deal_id=next_id + offset,
            stage=BITRIX24_WAITING if customer.waiting else BITRIX24_NOT_YET,
            title=f"Заказ: {customer.last_name} {customer.first_name}",
            contact=contact,
            rows=[(products[i.sku], i.quantity, str(i.price)) for i in customer.items],
            currency=data.currency,
            comments=customer.comment,
        )


# -- how to connect them ---------------------------------------------------------------------------------------------
# In the active language (make run: Russian, as the cabinet speaks): our own words, already translated.


def _ui(text: str) -> str:
    from django.utils.translation import gettext

    return gettext(text)


def _setting_label(kind: str, name: str) -> str:
    from integrations import crm_sync

    return str(next(s.label for s in crm_sync.adapter_class(kind).settings_fields if s.name == name))


def _map_text(mapping: dict[str, str], name_of) -> str:
    from orders.statuses import OrderStatus

    grouped: dict[str, list[str]] = {}
    for ours, theirs in mapping.items():
        grouped.setdefault(theirs, []).append(str(OrderStatus(ours).label))
    return "; ".join(f"{', '.join(ours)} → {name_of(theirs)}" for theirs, ours in grouped.items())


def retailcrm_notes(crm) -> list[str]:
    return [
        f"RetailCRM address: {crm.url}   API key: {RETAILCRM_KEY}",
        f"{_setting_label('retailcrm', 'statuses')}: {crm.status_name(RETAILCRM_WAITING)};  "
        f"{_setting_label('retailcrm', 'site')}: {RETAILCRM_SITE[1]} ({RETAILCRM_SITE[0]}) or empty",
        f"Statuses back: {_map_text(RETAILCRM_MAP, crm.status_name)}",
    ]


def bitrix24_notes(portal) -> list[str]:
    return [
        f"Inbound webhook URL: {portal.webhook_url}",
        f"{_setting_label('bitrix24', 'stage')}: {portal.stage_name(BITRIX24_WAITING)}  (the other settings as they "
        "come: city and address from the contact, SKU from the product's XML_ID)",
        f"Statuses back: {_map_text(BITRIX24_MAP, portal.stage_name)}",
    ]


@dataclass
class DemoCrms:
    data: DemoData
    retailcrm: object | None = None
    bitrix24: object | None = None
    skipped: list[str] = field(default_factory=list)  # what could not start, and why

    def instructions(self) -> str:
        """What `make run` prints after the logins."""
        if self.retailcrm is None and self.bitrix24 is None:
            return "\n".join(["No demo CRM this time:", *(f"  {line}" for line in self.skipped)])
        path = " → ".join(_ui(t) for t in ("Integrations", "Connectors", "New connector"))
        lines = [
            f"Demo CRMs to try the CRM connectors: log in as {self.data.login}, {path}, choose the system, give the "
            f"address and key below and save; the connection check reads the CRM's lists (or press "
            f"«{_ui('Check the connection')}»); then «{_ui('Edit')}» and choose:"
        ]
        for name, double, notes in (
            ("RetailCRM", self.retailcrm, retailcrm_notes),
            ("Bitrix24", self.bitrix24, bitrix24_notes),
        ):
            if double is not None:
                lines.append(f"  {name} — its side of things: {double.url}/")
                lines += [f"    {line}" for line in notes(double)]
        lines += [f"  {line}" for line in self.skipped]
        lines.append(
            f"  Orders are taken every 10 minutes («{_ui('Run now')}» takes them at once); our statuses go back "
            "within 30 s."
        )
        return "\n".join(lines)


def _start(name: str, port: int, make, skipped: list[str]):
    """The double on its port, or None (and why in `skipped`) when the port is taken."""
    try:
        return make(port)
    except OSError as exc:
        skipped.append(
            f"No demo {name}: port {port} on 127.0.0.1 is taken ({exc.strerror}); give another with "
            f"--{name.lower()}-port (or DEMO_{name.upper()}_PORT)."
        )
        return None


@contextlib.contextmanager
def demo_crms(*, retailcrm_port: int | None, bitrix24_port: int | None) -> Iterator[DemoCrms]:
    """Both demo CRMs, seeded from our database, served while in the `with` (a port of None: that CRM is not
    started; 0: any free port). A port already taken leaves that CRM out and says so in `skipped`."""
    from tests.bitrix24_double import Bitrix24Double
    from tests.retailcrm_double import RetailCrmDouble

    skipped: list[str] = []
    retailcrm = bitrix24 = None
    with contextlib.ExitStack() as stack:
        if retailcrm_port is not None:
            retailcrm = _start(
                "RetailCRM",
                retailcrm_port,
                lambda p: RetailCrmDouble(api_key=RETAILCRM_KEY, sites=(RETAILCRM_SITE,), port=p),
                skipped,
            )
        if retailcrm is not None:
            stack.callback(retailcrm.server.server_close)  # also when the seed fails, before serving
        if bitrix24_port is not None:
            bitrix24 = _start(
                "Bitrix24",
                bitrix24_port,
                lambda p: Bitrix24Double(user_id=BITRIX24_USER, code=BITRIX24_CODE, port=p),
                skipped,
            )
        if bitrix24 is not None:
            stack.callback(bitrix24.server.server_close)
        data = demo_data(
            retailcrm_url=retailcrm.url if retailcrm else "",
            bitrix24_url=f"{bitrix24.url}/rest/" if bitrix24 else "",
        )
        if retailcrm is not None:
            seed_retailcrm(retailcrm, data)
            retailcrm.page_notes = retailcrm_notes(retailcrm)
            stack.enter_context(retailcrm)
        if bitrix24 is not None:
            seed_bitrix24(bitrix24, data)
            bitrix24.page_notes = bitrix24_notes(bitrix24)
            stack.enter_context(bitrix24)
        yield DemoCrms(data=data, retailcrm=retailcrm, bitrix24=bitrix24, skipped=skipped)


def _port(value: str) -> int | None:
    """A port number, or "off" for none."""
    if value.lower() in ("off", "no", "none", ""):
        return None
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port: {value}")
    return port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.crm_demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--retailcrm-port",
        type=_port,
        default=os.environ.get("DEMO_RETAILCRM_PORT", str(RETAILCRM_PORT)),
        help=f"default {RETAILCRM_PORT} (or DEMO_RETAILCRM_PORT); off: no demo RetailCRM",
    )
    parser.add_argument(
        "--bitrix24-port",
        type=_port,
        default=os.environ.get("DEMO_BITRIX24_PORT", str(BITRIX24_PORT)),
        help=f"default {BITRIX24_PORT} (or DEMO_BITRIX24_PORT); off: no demo Bitrix24",
    )
    parser.add_argument(
        "--ready-file", type=Path, help="where to write how to connect them, once they answer"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketlogistic.settings.local")
    import django
    from django.db import connections
    from django.utils import translation

    django.setup()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    try:
        with (
            translation.override("ru"),
            demo_crms(retailcrm_port=args.retailcrm_port, bitrix24_port=args.bitrix24_port) as demo,
        ):
            connections.close_all()  # everything is read: no connection held while serving
            text = demo.instructions()
            if args.ready_file is None:
                print(text, flush=True)
            else:
                partial = args.ready_file.with_name(args.ready_file.name + ".partial")
                partial.write_text(text + "\n", encoding="utf-8")
                partial.replace(args.ready_file)
            if demo.retailcrm is None and demo.bitrix24 is None:
                return 0  # nothing to serve; what was skipped is in the text
            stopped.wait()
            if args.ready_file is not None:
                with contextlib.suppress(OSError):
                    args.ready_file.unlink()
    except DemoDataMissing as exc:
        say(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
