"""Post shipments (Казпочта): the tracking number when a parcel is shipped, the post's status updates
entered by hand or imported from a file, and the COD the post remits, which makes the order paid.

A tracking number is a UPU S10 number (`RR123456785KZ`: two letters, eight digits, a check digit, the
country); a typo is caught by the check digit.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from openpyxl import load_workbook

from ketlogistic.core import access, reactions
from ketlogistic.core.actors import Actor, acting_user
from ketlogistic.core.calendar import calendar_for
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.excel import FileRejected, SafeWorkbook, sniff_xlsx
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.money import format_money, parse_money
from orders import workflow
from orders.models import Order
from orders.statuses import DeliveryKind, OrderSource, OrderStatus

from .events import PostParcelArrived
from .models import Collection, DeliveryEvent, PostShipment
from .services import collections_settled

S = PostShipment.Status
S10 = re.compile(r"^[A-Z]{2}\d{9}[A-Z]{2}$")
WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 20_000

# What the post (and people) write in a status column → our status.
STATUS_WORDS = {
    S.SHIPPED: ("shipped", "отправлено", "отправлен", "принято", "принят", "принято в опс", "в пути"),
    S.ARRIVED: ("arrived", "прибыло", "прибыло в опс", "в отделении", "ожидает вручения", "поступило"),
    S.PAID: ("paid", "оплачено", "оплачен", "выплачено", "вручено", "вручен", "вручено адресату"),
    S.RETURNED: ("returned", "возврат", "возвращено", "возвращен", "возврат отправителю"),
}
WORD_TO_STATUS = {word: status for status, words in STATUS_WORDS.items() for word in words}
HEADERS = {
    "tracking": (
        "трек-номер",
        "трек номер",
        "трек",
        "шпи",
        "номер отправления",
        "tracking number",
        "tracking",
    ),
    "status": ("статус", "status"),
    "date": ("дата", "дата операции", "date"),
    "amount": ("сумма", "сумма наложенного платежа", "наложенный платеж", "amount"),
    "note": ("примечание", "комментарий", "note"),
}


def check_digit(serial: str) -> int:
    remainder = 11 - sum(int(d) * w for d, w in zip(serial, WEIGHTS, strict=True)) % 11
    return {10: 0, 11: 5}.get(remainder, remainder)


def clean_tracking_number(value: str) -> str:
    number = re.sub(r"[\s-]", "", str(value or "")).upper()
    if not S10.match(number):
        raise ValidationError(
            _("A tracking number looks like RR123456785KZ: two letters, nine digits, two letters.")
        )
    if check_digit(number[2:10]) != int(number[10]):
        raise ValidationError(
            _("The tracking number %(number)s has a typo: its check digit does not match.")
            % {"number": number}
        )
    return number


def make_tracking_number(serial: int, prefix: str = "RR", country: str = "KZ") -> str:
    """A valid S10 number (for demo data and tests)."""
    digits = f"{serial % 100_000_000:08d}"
    return f"{prefix}{digits}{check_digit(digits)}{country}"


def _event(shipment: PostShipment, kind: str, *, at, actor: Actor, details=None) -> None:
    DeliveryEvent.objects.create(
        order_id=shipment.order_id,
        partner_id=shipment.partner_id,
        kind=kind,
        at=at,
        actor=acting_user(actor),
        details=details or {},
    )


@transaction.atomic
def post_ship(
    *, actor: Actor, order: Order, tracking_number: str, now: datetime | None = None
) -> PostShipment:
    """The parcel is handed to the post: the order is shipped by post with its tracking number."""
    if not access.can(actor, "post.manage"):
        raise PermissionDenied
    order = access.get_scoped_or_404(actor, Order.objects.select_for_update(of=("self",)), pk=order.pk)
    number = clean_tracking_number(tracking_number)
    existing = PostShipment.objects.filter(tracking_number=number).first()
    if existing is not None:
        if existing.order_id == order.pk:
            return existing  # a repeated submit
        raise ValidationError(
            _("The tracking number %(number)s is on another parcel already.") % {"number": number}
        )
    if order.delivery_kind != DeliveryKind.POST:
        raise ApplicationError(_("Order №%(number)s is not a post order.") % {"number": order.pk})
    now = now or timezone.now()
    workflow.perform(
        order,
        action="ship_by_post",
        actor=actor,
        source=OrderSource.STAFF,
        now=now,
        data={"tracking_number": number},
    )
    shipment = PostShipment.objects.create(
        order=order, partner_id=order.partner_id, tracking_number=number, shipped_at=now, status_at=now
    )
    _event(
        shipment, DeliveryEvent.Kind.POST_SHIPPED, at=now, actor=actor, details={"tracking_number": number}
    )
    return shipment


ALLOWED = {
    S.SHIPPED: {S.ARRIVED, S.PAID, S.RETURNED},
    S.ARRIVED: {S.PAID, S.RETURNED},
    S.PAID: set(),
    S.RETURNED: set(),
}
RANK = {S.SHIPPED: 0, S.ARRIVED: 1, S.PAID: 2, S.RETURNED: 2}


@transaction.atomic
def post_status(
    *,
    actor: Actor,
    shipment: PostShipment,
    status: str,
    at: datetime | None = None,
    amount=None,
    note: str = "",
    source: str = "manual",
    refusal_fault: str = "",
) -> PostShipment:
    """What the post reports. Paid needs the remitted sum (the order's COD by default) and makes the order paid;
    returned brings the goods back to stock, marked as not the customer's fault when it was not (`refusal_fault`, a
    `RefusalFault`). Reporting the same status again changes nothing."""
    if not access.can(actor, "post.manage"):
        raise PermissionDenied
    shipment = access.get_scoped_or_404(
        actor, PostShipment.objects.select_for_update(of=("self",)).select_related("order"), pk=shipment.pk
    )
    if status not in S.values:
        raise ValidationError({"status": _("Unknown status.")})
    if status == shipment.status:
        return shipment
    if status not in ALLOWED[shipment.status]:
        raise ValidationError(
            {
                "status": _("The parcel is “%(current)s”; it cannot become “%(new)s”.")
                % {"current": shipment.get_status_display(), "new": S(status).label}
            }
        )
    now = timezone.now()
    at = at or now
    if at > now:
        raise ValidationError({"date": _("The date is in the future.")})
    order = shipment.order
    details = {"source": source, "note": (note or "").strip()[:300]}
    if status == S.PAID:
        remitted = order.cod_amount if amount in (None, "") else parse_money(amount, "amount")
        if remitted <= 0 or remitted > order.cod_amount:
            raise ValidationError(
                {
                    "amount": _("The remitted sum must be above zero and at most the order's %(sum)s.")
                    % {"sum": format_money(order.cod_amount, order.currency)}
                }
            )
        workflow.perform(
            order,
            action="post_paid",
            actor=actor,
            source=OrderSource.STAFF,
            now=at,
            data={"collected_amount": str(remitted), "tracking_number": shipment.tracking_number},
        )
        collection = Collection.objects.create(
            order=order,
            partner_id=order.partner_id,
            kind=Collection.Kind.COD,
            channel=Collection.Channel.POST,
            amount=remitted,
            currency=order.currency,
            collected_at=at,
            city_id=order.city_id,
        )
        collections_settled([collection])  # the post remitted it: the partner's balance gets it
        shipment.remitted_amount = remitted
        details["amount"] = str(remitted)
    elif status == S.RETURNED:
        workflow.perform(
            order,
            action="post_returned",
            actor=actor,
            source=OrderSource.STAFF,
            now=at,
            reason=details["note"] or gettext_message("Returned by the post"),
            data={
                "tracking_number": shipment.tracking_number,
                **({workflow.FAULT_KEY: refusal_fault} if refusal_fault else {}),
            },
        )
    shipment.status = status
    shipment.status_at = at
    shipment.save(update_fields=["status", "status_at", "remitted_amount"])
    kind = {
        S.ARRIVED: DeliveryEvent.Kind.POST_ARRIVED,
        S.PAID: DeliveryEvent.Kind.POST_PAID,
        S.RETURNED: DeliveryEvent.Kind.POST_RETURNED,
    }[status]
    _event(shipment, kind, at=at, actor=actor, details=details)
    if status == S.ARRIVED:
        reactions.react(PostParcelArrived(shipment=shipment, note=details["note"]))
    return shipment


# -- the import -----------------------------------------------------------------------------------------------------


@dataclass
class ImportRow:
    number: int
    tracking_number: str
    status: str
    at: datetime | None
    amount: Decimal | None
    note: str


@dataclass
class ImportResult:
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)  # {"row", "column", "message"}
    applied: int = 0
    unchanged: int = 0


def _norm(text) -> str:
    return " ".join(str(text or "").replace("ё", "е").strip(" :*").casefold().split())


def _rows_of(content: bytes, filename: str) -> list[tuple[int, list]]:
    if filename.lower().endswith(".csv"):
        if len(content) > MAX_IMPORT_BYTES:
            raise FileRejected(
                _("The file is larger than %(mb)s MB; split it into several files.")
                % {"mb": MAX_IMPORT_BYTES // (1024 * 1024)}
            )
        text = content.decode("utf-8-sig", errors="replace")
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=";,\t") if text.strip() else csv.excel
        return list(enumerate(csv.reader(io.StringIO(text), dialect), start=1))
    sniff_xlsx(content, max_bytes=MAX_IMPORT_BYTES)
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a broken file
        raise FileRejected(_("The file is damaged and cannot be opened. Save it again in Excel.")) from exc
    try:
        return [
            (number, list(row))
            for number, row in enumerate(book.worksheets[0].iter_rows(values_only=True), start=1)
        ]
    finally:
        book.close()


def _parse_date(value, zone) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone) if value.tzinfo is None else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, 12, 0, tzinfo=zone)
    text = str(value).strip()
    for pattern in ("%d.%m.%Y %H:%M", "%d.%m.%Y", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%d/%m/%Y"):
        try:
            parsed = datetime.strptime(text, pattern)  # noqa: DTZ007 - the post's local zone is set below
        except ValueError:
            continue
        return (
            parsed.replace(tzinfo=zone, hour=parsed.hour or 12)
            if "%H" not in pattern
            else parsed.replace(tzinfo=zone)
        )
    raise ValueError(text)


def read_import(content: bytes, filename: str) -> ImportResult:
    """Read a status file (xlsx or csv: tracking number, status, date, sum, note); every problem with its row."""
    rows = _rows_of(content, filename)
    result = ImportResult()
    header_row, columns = None, {}
    for number, cells in rows[:10]:
        found = {}
        for index, cell in enumerate(cells):
            for key, names in HEADERS.items():
                if _norm(cell) in names:
                    found.setdefault(key, index)
        if "tracking" in found and "status" in found:
            header_row, columns = number, found
            break
    if header_row is None:
        raise FileRejected(
            _(
                "No header row with “Трек-номер” and “Статус” in the first 10 rows. "
                "Download the template and fill it in."
            )
        )
    zone = calendar_for("KZ").zone
    seen = set()
    data = [(n, c) for n, c in rows if n > header_row and any(v not in (None, "") for v in c)]
    if len(data) > MAX_IMPORT_ROWS:
        raise FileRejected(
            ngettext(
                "The file has more than %(max)s row; split it.",
                "The file has more than %(max)s rows; split it.",
                MAX_IMPORT_ROWS,
            )
            % {"max": MAX_IMPORT_ROWS}
        )
    for number, cells in data:

        def cell(key, cells=cells):
            index = columns.get(key)
            return cells[index] if index is not None and index < len(cells) else None

        problems = []
        try:
            tracking = clean_tracking_number(cell("tracking"))
        except ValidationError as exc:
            problems.append(("Трек-номер", exc.messages[0]))
            tracking = ""
        status = WORD_TO_STATUS.get(_norm(cell("status")))
        if status is None:
            problems.append(
                (
                    "Статус",
                    _("Unknown status “%(value)s”: use Отправлено, Прибыло в ОПС, Оплачено or Возврат.")
                    % {"value": cell("status") or ""},
                )
            )
        try:
            at = _parse_date(cell("date"), zone)
        except ValueError:
            problems.append(("Дата", _("Not a date: write it as 25.11.2026.")))
            at = None
        if at is not None and at > timezone.now():
            problems.append(("Дата", _("The date is in the future.")))
        amount = None
        if cell("amount") not in (None, ""):
            try:
                amount = parse_money(cell("amount"), "amount")
            except ValidationError:
                problems.append(("Сумма", _("Not a sum of money.")))
        if tracking and (tracking, status) in seen:
            problems.append(("Трек-номер", _("The same number and status appear twice in the file.")))
        seen.add((tracking, status))
        for column, message in problems:
            result.errors.append({"row": number, "column": column, "message": message})
        if not problems:
            result.rows.append(ImportRow(number, tracking, status, at, amount, str(cell("note") or "")))
    if not data:
        raise FileRejected(_("The file has headers but no rows."))
    return result


def post_import(*, actor: Actor, content: bytes, filename: str) -> ImportResult:
    """Apply a status file all or nothing: every row is checked first (its parcel exists and is visible, the
    move is allowed); nothing is applied while any row has a problem. Rows already applied change nothing."""
    if not access.can(actor, "post.manage"):
        raise PermissionDenied
    result = read_import(content, filename)
    shipments = {
        s.tracking_number: s
        for s in access.scoped(actor, PostShipment.objects.select_related("order")).filter(
            tracking_number__in=[row.tracking_number for row in result.rows]
        )
    }
    final_of = {}
    for row in result.rows:
        shipment = shipments.get(row.tracking_number)
        if shipment is None:
            result.errors.append(
                {
                    "row": row.number,
                    "column": "Трек-номер",
                    "message": _("No parcel with the number %(number)s.") % {"number": row.tracking_number},
                }
            )
            continue
        if RANK[row.status] == 2:
            other = final_of.setdefault(row.tracking_number, row.status)
            if other != row.status:
                result.errors.append(
                    {
                        "row": row.number,
                        "column": "Статус",
                        "message": _("The file says this parcel was both paid and returned."),
                    }
                )
        if RANK[shipment.status] == 2 and RANK[row.status] == 2 and row.status != shipment.status:
            result.errors.append(
                {
                    "row": row.number,
                    "column": "Статус",
                    "message": _("The parcel is “%(current)s”; it cannot become “%(new)s”.")
                    % {"current": shipment.get_status_display(), "new": S(row.status).label},
                }
            )
    if result.errors:
        result.errors.sort(key=lambda error: error["row"])
        return result
    with transaction.atomic():
        for row in sorted(result.rows, key=lambda r: (RANK[r.status], r.number)):
            shipment = shipments[row.tracking_number]
            shipment.refresh_from_db()
            if RANK[row.status] <= RANK[shipment.status]:
                result.unchanged += 1  # already known (a file imported twice, or older news)
                continue
            try:
                post_status(
                    actor=actor,
                    shipment=shipment,
                    status=row.status,
                    at=row.at,
                    amount=row.amount,
                    note=row.note,
                    source="import",
                )
            except (ValidationError, workflow.TransitionError) as exc:
                transaction.set_rollback(True)
                message = " ".join(exc.messages) if isinstance(exc, ValidationError) else exc.message
                result.errors.append({"row": row.number, "column": "", "message": message})
                result.applied = 0
                return result
            result.applied += 1
    return result


def import_template() -> SafeWorkbook:
    book = SafeWorkbook()
    sheet = book.sheet(
        _("Post statuses"),
        ["Трек-номер", "Статус", "Дата", "Сумма", "Примечание"],
        widths=[18, 18, 14, 14, 30],
    )
    sheet.append([make_tracking_number(12345678), "Прибыло в ОПС", "25.11.2026", "", ""])
    sheet.append([make_tracking_number(12345679), "Оплачено", "26.11.2026", "15000", ""])
    return book


def orders_to_ship(actor: Actor):
    """Post orders agreed with the customer, waiting to be handed to the post."""
    return (
        access.scoped(
            actor,
            Order.objects.filter(
                delivery_kind=DeliveryKind.POST, is_test=False, status=OrderStatus.DELIVERY_AGREED
            ),
        )
        .select_related("partner", "city")
        .order_by("delivery_date", "created_at")
    )
