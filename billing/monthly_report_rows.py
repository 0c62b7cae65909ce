"""A kept monthly report (`MonthlyReport.figures`) as tables for people: the page shows them, the Excel writes them,
each in the reader's language (labels are translated when shown; the figures are as they were kept)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.utils.translation import gettext as _

from ketlogistic.core.durations import format_duration
from ketlogistic.core.money import format_money
from orders.statuses import DeliveryKind

MONEY, PERCENT, DURATION, NUMBER, TEXT = "money", "percent", "duration", "number", "text"


@dataclass
class Table:
    key: str
    title: str
    headers: list[str]
    kinds: list[str]  # per column: how a value is shown
    rows: list[list] = field(default_factory=list)  # values as kept: Decimal, int, seconds, text, None
    note: str = ""
    empty: str = ""

    def shown_rows(self, currency: str) -> list[list[str]]:
        return [
            [show(value, kind, currency) for value, kind in zip(row, self.kinds, strict=True)]
            for row in self.rows
        ]

    def cells(self) -> list[list]:
        """The rows for a spreadsheet: numbers as numbers, a duration in words, a missing value empty."""
        return [
            [
                format_duration(value)
                if kind == DURATION and value is not None
                else ("" if value is None else value)
                for value, kind in zip(row, self.kinds, strict=True)
            ]
            for row in self.rows
        ]


def show(value, kind: str, currency: str) -> str:
    if value is None or value == "":
        return "—"
    if kind == MONEY:
        return format_money(value, currency)
    if kind == PERCENT:
        return f"{value}\u00a0%"
    if kind == DURATION:
        return format_duration(value)
    return str(value)


def _decimal(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(value)


def _day(value: str) -> str:
    return date.fromisoformat(value).strftime("%d.%m")


def tables(figures: dict) -> list[Table]:
    """The report's tables, in the order the page and the Excel show them."""
    summary = figures.get("summary", {})
    calls = figures.get("calls", {})
    time = figures.get("intake_to_delivery", {})
    refusals = figures.get("refusals", {})
    buyout_headers = [_("Paid"), _("Refused or returned"), _("Buyout, %"), _("Cash on delivery of the paid")]
    buyout_kinds = [NUMBER, NUMBER, PERCENT, MONEY]

    def buyout(row) -> list:
        return [row["paid"], row["refused"], _decimal(row["rate"]), _decimal(row["cod"])]

    found = [
        Table(
            "summary",
            _("The month in figures"),
            [_("Figure"), _("Value")],
            [TEXT, TEXT],
            [
                [_("Orders received"), str(summary.get("received", 0))],
                [_("Paid (bought out)"), str(summary.get("paid", 0))],
                [_("Refused or returned"), str(summary.get("refused", 0))],
                [_("Customer not reached"), str(summary.get("not_reached", 0))],
                [
                    _("Buyout, %"),
                    f"{summary['rate']}\u00a0%" if summary.get("rate") else "—",
                ],
                [
                    _("Cash on delivery of the paid"),
                    format_money(_decimal(summary.get("cod")), figures.get("currency", "")),
                ],
            ],
            note=_(
                "Buyout: paid orders out of those paid, refused or returned in the month (closed in the month)."
            ),
        ),
        Table(
            "cities",
            _("Buyout by city"),
            [_("City"), *buyout_headers],
            [TEXT, *buyout_kinds],
            [[row["city"], *buyout(row)] for row in figures.get("cities", [])],
            empty=_("No order was closed this month."),
        ),
        Table(
            "products",
            _("Buyout by product"),
            [
                _("SKU"),
                _("Product"),
                _("Orders paid"),
                _("Orders refused or returned"),
                _("Buyout, %"),
                _("Units bought out"),
            ],
            [TEXT, TEXT, NUMBER, NUMBER, PERCENT, NUMBER],
            [
                [row["sku"], row["name"], row["paid"], row["refused"], _decimal(row["rate"]), row["quantity"]]
                for row in figures.get("products", [])
            ],
            note=_("An order with several products counts for each of them."),
            empty=_("No order was closed this month."),
        ),
        Table(
            "weeks",
            _("Buyout by week"),
            [_("Week"), *buyout_headers],
            [TEXT, *buyout_kinds],
            [[f"{_day(row['from'])}–{_day(row['to'])}", *buyout(row)] for row in figures.get("weeks", [])],
            note=_("Weeks from Monday, cut to the month."),
            empty=_("No order was closed this month."),
        ),
        Table(
            "calls",
            _("Calls per order"),
            [_("Orders"), _("Calls"), _("Calls per order")],
            [TEXT, NUMBER, TEXT],
            [
                [
                    _("Every order that ended this month"),
                    calls.get("calls", 0),
                    calls.get("per_order") or "—",
                ],
                [_("Paid"), None, calls.get("per_paid") or "—"],
                [_("Refused or returned"), None, calls.get("per_refused") or "—"],
                [_("Customer not reached"), None, calls.get("per_not_reached") or "—"],
            ],
            note=_(
                "Every call placed about the orders that ended this month (paid, refused, returned, not reached): "
                "by logists, the hotline, courier administrators and couriers."
            ),
        ),
        Table(
            "call_bands",
            _("Orders by number of calls"),
            [_("Calls"), _("Orders")],
            [TEXT, NUMBER],
            [[row["calls"], row["orders"]] for row in calls.get("bands", [])],
        ),
        Table(
            "intake_to_delivery",
            _("Time from intake to delivery"),
            [_("Orders"), _("Paid orders"), _("Median"), _("Average"), _("The slowest tenth took over")],
            [TEXT, NUMBER, DURATION, DURATION, DURATION],
            [
                [_("All"), time.get("orders", 0), time.get("median"), time.get("average"), time.get("p90")],
                *[
                    [_kind_label(row["kind"]), row["orders"], row["median"], row["average"], row["p90"]]
                    for row in time.get("kinds", [])
                ],
            ],
            note=_("From the moment we received the order to its payment, of the orders paid this month."),
        ),
        Table(
            "intake_to_delivery_cities",
            _("Time from intake to delivery by city"),
            [_("City"), _("Paid orders"), _("Median"), _("Average"), _("The slowest tenth took over")],
            [TEXT, NUMBER, DURATION, DURATION, DURATION],
            [
                [row["city"], row["orders"], row["median"], row["average"], row["p90"]]
                for row in time.get("cities", [])
            ],
            empty=_("No order was paid this month."),
        ),
    ]
    reasons = [
        [row["reason"], row["count"], row["phone"], row["door"], row["post"]]
        for row in refusals.get("reasons", [])
    ]
    other = refusals.get("other", {})
    if other.get("count"):
        reasons.append([_("Other reasons"), other["count"], other["phone"], other["door"], other["post"]])
    found.append(
        Table(
            "refusals",
            _("Refusals by reason"),
            [_("Reason"), _("Refusals"), _("On the phone"), _("At the door"), _("Back from the post")],
            [TEXT, NUMBER, NUMBER, NUMBER, NUMBER],
            reasons,
            note=_("Reasons as our staff wrote them, the same words counted together; phone numbers masked."),
            empty=_("No refusal this month."),
        )
    )
    return found


def _kind_label(kind: str) -> str:
    return str(dict(DeliveryKind.choices).get(kind, kind))


def shown(report) -> list[dict]:
    """The report's tables ready for its page."""
    currency = report.figures.get("currency", report.partner.currency)
    found = []
    for table in tables(report.figures):
        numeric = [kind != TEXT for kind in table.kinds]
        found.append(
            {
                "key": table.key,
                "title": table.title,
                "columns": [
                    {"header": header, "numeric": is_number}
                    for header, is_number in zip(table.headers, numeric, strict=True)
                ],
                "rows": [
                    [
                        {"text": text, "numeric": is_number}
                        for text, is_number in zip(row, numeric, strict=True)
                    ]
                    for row in table.shown_rows(currency)
                ],
                "note": table.note,
                "empty": table.empty,
            }
        )
    return found
