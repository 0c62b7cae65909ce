"""What the customer's SMS say: the events that send, the company's default texts in Russian, Kazakh and Kyrgyz,
the placeholders, rendering, and how many parts a text takes.

A text is rendered from the order's own data only: its partner's name, its number, its date and sum. The
placeholders are replaced by one pass of a fixed pattern (never `str.format` on text a partner wrote), so a value
can never bring in another placeholder; every value taken from the order goes through the phone redaction
(`core.redaction`), so a phone number typed into an address or a name never reaches a text either.

Length: an SMS is one part of 160 GSM-7 characters (153 each when the text is split, the rest carries the
concatenation header), or of 70 UCS-2 characters (67 each when split) as soon as one character is outside the GSM-7
alphabet — any Cyrillic letter, so Russian, Kazakh and Kyrgyz texts are always UCS-2. The characters of the GSM-7
extension table (€ [ ] { } ^ ~ | \\) take two places each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from delivery.tracking_links import link_token
from ketlogistic.core.money import round_money
from ketlogistic.core.redaction import redact


class SmsEvent(models.TextChoices):
    """The moments the operator script promises the customer an SMS (seed 001), in the order of an order's life."""

    IN_CITY = "in_city", _("Goods in the city, we will call")
    DELIVERY_AGREED = "delivery_agreed", _("Delivery agreed")
    ON_THE_WAY = "on_the_way", _("Courier on the way")
    POST_SHIPPED = "post_shipped", _("Parcel shipped by post")
    POST_ARRIVED = "post_arrived", _("Parcel at the post office")
    NOT_REACHED = "not_reached", _("Could not reach the customer")
    CANCELLED = "cancelled", _("Returned or cancelled")
    THANKS = "thanks", _("Thanks after payment")


class SmsLanguage(models.TextChoices):
    RU = "ru", "Русский"
    KK = "kk", "Қазақша"
    KY = "ky", "Кыргызча"


PLACEHOLDERS = (
    "first_name",
    "order_number",
    "partner",
    "date",
    "sum",
    "address",
    "tracking",
    "post_office",
    "link",
    "hotline",
)
PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
LOOKS_LIKE_PLACEHOLDER = re.compile(r"\{([^{}\n]{0,40})\}")
# A partner's text: at most this many characters as written (six UCS-2 parts once rendered, give or take).
MAX_TEMPLATE_LENGTH = 400

E = SmsEvent
DEFAULT_TEXTS: dict[str, dict[str, str]] = {
    SmsLanguage.RU: {
        E.IN_CITY: "{first_name}, ваш заказ {order_number} ({partner}) уже в вашем городе. Мы позвоним, чтобы "
        "согласовать доставку. {link}",
        E.DELIVERY_AGREED: "{first_name}, доставка заказа {order_number} ({partner}) назначена на {date}. "
        "Адрес: {address}. Приготовьте {sum}. {link}",
        E.ON_THE_WAY: "{first_name}, курьер привезёт ваш заказ {order_number} ({partner}) сегодня. "
        "Приготовьте {sum}. {link}",
        E.POST_SHIPPED: "{first_name}, заказ {order_number} ({partner}) отправлен почтой. Трек-номер {tracking}. "
        "{link}",
        E.POST_ARRIVED: "{first_name}, заказ {order_number} ({partner}) ждёт вас в почтовом отделении: "
        "{post_office}. Трек {tracking}. К оплате {sum}. {link}",
        E.NOT_REACHED: "{first_name}, мы не дозвонились до вас по заказу {order_number} ({partner}). "
        "Перезвоните нам: {hotline}",
        E.CANCELLED: "Заказ {order_number} ({partner}) отменён. Звонки и SMS по нему прекращены. "
        "Вопросы: {hotline}",
        E.THANKS: "{first_name}, спасибо за покупку в {partner}! Вопросы по заказу {order_number}: {hotline}",
    },
    SmsLanguage.KK: {
        E.IN_CITY: "{first_name}, {order_number} тапсырысыңыз ({partner}) қалаңызға жетті. Жеткізуді келісу "
        "үшін қоңырау шаламыз. {link}",
        E.DELIVERY_AGREED: "{first_name}, {order_number} тапсырысы ({partner}) {date} күні жеткізіледі. "
        "Мекенжай: {address}. {sum} дайындаңыз. {link}",
        E.ON_THE_WAY: "{first_name}, курьер {order_number} тапсырысыңызды ({partner}) бүгін әкеледі. "
        "{sum} дайындаңыз. {link}",
        E.POST_SHIPPED: "{first_name}, {order_number} тапсырысы ({partner}) поштамен жіберілді. "
        "Трек-нөмір: {tracking}. {link}",
        E.POST_ARRIVED: "{first_name}, {order_number} тапсырысы ({partner}) пошта бөлімшесінде: {post_office}. "
        "Трек: {tracking}. Төлем: {sum}. {link}",
        E.NOT_REACHED: "{first_name}, {order_number} тапсырысы ({partner}) бойынша сізге хабарласа алмадық. "
        "Бізге қоңырау шалыңыз: {hotline}",
        E.CANCELLED: "{order_number} тапсырысы ({partner}) жойылды. Ол бойынша қоңырау мен SMS тоқтатылды. "
        "Сұрақтар: {hotline}",
        E.THANKS: "{first_name}, {partner} дүкенінен сатып алғаныңызға рахмет! {order_number} тапсырысы "
        "бойынша сұрақтар: {hotline}",
    },
    SmsLanguage.KY: {
        E.IN_CITY: "{first_name}, {order_number} буйрутмаңыз ({partner}) шаарыңызга келди. Жеткирүүнү "
        "макулдашуу үчүн чалабыз. {link}",
        E.DELIVERY_AGREED: "{first_name}, {order_number} буйрутмасы ({partner}) {date} күнү жеткирилет. "
        "Дарек: {address}. {sum} даярдап коюңуз. {link}",
        E.ON_THE_WAY: "{first_name}, курьер {order_number} буйрутмаңызды ({partner}) бүгүн алып келет. "
        "{sum} даярдап коюңуз. {link}",
        E.POST_SHIPPED: "{first_name}, {order_number} буйрутмасы ({partner}) почта менен жөнөтүлдү. "
        "Трек-номер: {tracking}. {link}",
        E.POST_ARRIVED: "{first_name}, {order_number} буйрутмасы ({partner}) почта бөлүмүндө: {post_office}. "
        "Трек: {tracking}. Төлөм: {sum}. {link}",
        E.NOT_REACHED: "{first_name}, {order_number} буйрутмасы ({partner}) боюнча сизге чала албадык. "
        "Бизге чалыңыз: {hotline}",
        E.CANCELLED: "{order_number} буйрутмасы ({partner}) жокко чыгарылды. Ал боюнча чалуулар жана SMS "
        "токтотулду. Суроолор: {hotline}",
        E.THANKS: "{first_name}, {partner} дүкөнүнөн сатып алганыңыз үчүн рахмат! {order_number} буйрутмасы "
        "боюнча суроолор: {hotline}",
    },
}

# What the editor fills the placeholders with to show a text's length (a name, a number, a date and a sum of the
# usual lengths); the partner's own name and the hotline are the real ones.
SAMPLE_VALUES = {
    "first_name": "Айгерим",
    "order_number": "100234",
    "date": "12.12.2026",
    "sum": "15 000 тг",
    "address": "ул. Абая, 10, кв. 5",
    "tracking": "RR123456785KZ",
    "post_office": "Алматы",
    "link": "",
}


def unknown_placeholders(text: str) -> list[str]:
    """Everything in braces that is not one of our placeholders, as written and in the order written ({имя},
    {first name}, {}): a typo the customer would read as it is."""
    found = [
        match.group(0)
        for match in LOOKS_LIKE_PLACEHOLDER.finditer(text)
        if match.group(1) not in PLACEHOLDERS
    ]
    return list(dict.fromkeys(found))


def default_text(event: str, language: str) -> str:
    return DEFAULT_TEXTS.get(language, DEFAULT_TEXTS[SmsLanguage.RU])[event]


def fill(template: str, values: dict[str, str]) -> str:
    """The template with the values in its placeholders (one pass), spaces tidied: a placeholder left empty
    (`{link}` while there is no link) leaves no double space or trailing space behind."""
    text = PLACEHOLDER.sub(lambda match: values.get(match.group(1), ""), template)
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" +([.,!?:;)])", r"\1", text)
    return "\n".join(line.strip() for line in text.strip().splitlines())


# -- the values of an order --------------------------------------------------------------------------------------------

# Endings of surnames and patronymics, to tell the first name in «Фамилия Имя Отчество» from «Имя Фамилия».
SURNAME_ENDINGS = (
    "ов",
    "ова",
    "ев",
    "ева",
    "ёв",
    "ёва",
    "ин",
    "ина",
    "ын",
    "ына",
    "ский",
    "ская",
    "енко",
    "ук",
)
PATRONYMIC_ENDINGS = ("вич", "вна", "ична", "ич", "улы", "ұлы", "уулу", "кызы", "қызы", "гызы")


def first_name(full_name: str) -> str:
    """The customer's first name from the name as the shop wrote it: «Айгерим Сапарова» and «Сапарова Айгерим»
    both give «Айгерим», «Иванов Иван Иванович» gives «Иван». Never more than 30 characters."""
    words = [w for w in re.split(r"\s+", (full_name or "").strip()) if w]
    if not words:
        return ""
    lower = [w.casefold() for w in words]
    if len(words) >= 3 and lower[2].endswith(PATRONYMIC_ENDINGS):
        name = words[1]
    elif len(words) >= 2 and lower[0].endswith(SURNAME_ENDINGS) and not lower[1].endswith(SURNAME_ENDINGS):
        name = words[1]
    else:
        name = words[0]
    return name[:30]


SUM_WORDS = {"KZT": "тг", "KGS": "сом"}


def sum_text(amount: Decimal | None, currency: str) -> str:
    """«15 000 тг», «1 250,50 сом»: the sum to prepare, in words an SMS can carry (no ₸ sign, no thin spaces)."""
    if amount is None:
        return ""
    value = round_money(amount)
    whole, _sep, cents = f"{value:.2f}".partition(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    text = " ".join(groups) + ("" if cents == "00" else "," + cents)
    word = SUM_WORDS.get(currency, currency)
    return f"{text} {word}".strip()


def hotline_for(country: str) -> str:
    return (getattr(settings, "SMS_HOTLINE", {}) or {}).get(country, "")


def order_link(order, *, now=None) -> str:
    """The short signed link that opens the order's public tracking page (`{link}`): `PUBLIC_BASE_URL` +
    `/t/<token>/` (`delivery.tracking_links`), some 45 characters with our address.

    Empty for a test order (its link would open nothing: the sandbox's SMS never reach a customer) and while
    `PUBLIC_BASE_URL` is not set. Every default text that uses `{link}` reads well without it (the placeholder
    stands last, and an empty one leaves no trace)."""
    base = settings.PUBLIC_BASE_URL
    if not base or order.is_test or order.pk is None:
        return ""
    return f"{base}/t/{link_token(order, now=now)}/"


# A link as it stands in a sent text: staff and the partner read the text on the order's timeline, the customer
# alone holds the token (whoever has it may ask for a call back in the customer's name).
LINK_IN_TEXT = re.compile(r"(/t/)[A-Za-z0-9_-]{20,22}/")


def hide_link_token(text: str) -> str:
    """The text with the token of each tracking link replaced by «…»."""
    return LINK_IN_TEXT.sub(r"\1…/", text)


def order_values(order, *, tracking: str = "", post_office: str = "") -> dict[str, str]:
    """The placeholders' values for an order: its own data only (its partner's name, never another's), each piece
    the customer or the shop typed passed through the phone redaction."""
    return {
        "first_name": redact(first_name(order.customer_name)),
        "order_number": redact(order.external_id or str(order.pk)),
        "partner": redact(order.partner.name),
        "date": order.delivery_date.strftime("%d.%m.%Y") if order.delivery_date else "",
        "sum": sum_text(order.cod_amount, order.currency),
        "address": redact(order.address or ""),
        "tracking": tracking,
        "post_office": redact(post_office),
        "link": order_link(order),
        "hotline": hotline_for(order.country),
    }


def sample_link() -> str:
    """A link of the length the SMS carry (the token's 20 characters), for the editor's count."""
    base = settings.PUBLIC_BASE_URL
    return f"{base}/t/{'x' * 20}/" if base else ""


def sample_values(partner) -> dict[str, str]:
    return {
        **SAMPLE_VALUES,
        "partner": partner.name,
        "hotline": hotline_for(partner.country),
        "link": sample_link(),
    }


# -- length and parts ---------------------------------------------------------------------------------------------------

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")
GSM7 = "gsm7"
UCS2 = "ucs2"


@dataclass(frozen=True)
class Length:
    """How an SMS text travels: its encoding, its length in that encoding's units, and the parts it takes."""

    encoding: str  # "gsm7" | "ucs2"
    units: int  # GSM-7 septets (an extension character counts two) or UTF-16 code units
    parts: int
    per_part: int  # the room of one part at this length: 160 / 153 or 70 / 67

    @property
    def characters(self) -> int:
        return self.units


def measure(text: str) -> Length:
    """`Length` of a text: GSM-7 when every character is in its alphabet, else UCS-2 (Cyrillic is not)."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, multi = 160, 153
        encoding = GSM7
    else:
        units = len(text.encode("utf-16-le")) // 2  # a character beyond the BMP (an emoji) takes two
        single, multi = 70, 67
        encoding = UCS2
    if units <= single:
        return Length(encoding, units, 1 if units else 0, single)
    return Length(encoding, units, -(-units // multi), multi)
