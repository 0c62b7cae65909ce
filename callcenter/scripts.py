"""Call scripts: the company's default and partners' own, in sections by topic and by order status, and a sample.

`load_default_script()` loads the company's own script (`default_script`: our cities, courier and post delivery,
cash on delivery, refusals and returns); `load_sample_script()` parses the real operator script of seed 001 (another
company's: Почта России, a Moscow PO box) into sections by its headings, kept as a sample a partner may copy into
its own script, never read to our customers by default; `sections_for(order)` picks what the operator sees for the
order in front of them, with the customer's name and the order's data filled in.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.db import transaction
from django.db.models import Q

from ketlogistic.core.money import format_money

from .default_script import STATUS_SECTIONS, topic_sections
from .models import Script, ScriptSection

T = ScriptSection.Topic
# A verbatim copy of seeds/001_*.txt (the real operator script), kept with the code.
SAMPLE_SCRIPT = Path(__file__).resolve().parent / "data" / "sample_script.txt"

# The seed's headings (its table of contents) and the topic each one opens.
HEADINGS = [
    (r"ПРИВЕТСТВИЕ", T.GREETING, "Приветствие"),
    (r"ГДЕ ПОСЫЛКА\?", T.WHERE_IS_PARCEL, "Где посылка?"),
    (r"ИЗМЕНЕНИЕ ЗАКАЗА", T.CHANGE_ORDER, "Изменение заказа"),
    (r"СТАТУСЫ В CRM", T.STATUSES, "Статусы"),
    (r"ВОЗВРАТ", T.RETURNS, "Возврат"),
    (r"ОПП / ГДЕ ДЕНЬГИ", T.WHERE_IS_MONEY, "Где деньги"),
    (r"АВТОДОЗВОН.*", T.AUTO_DIAL, "Автодозвон"),
    (r"ВОПРОСЫ ПО БОНУСНОЙ КАРТЕ", T.REFERENCE, "Вопросы по бонусной карте"),
    (r"СПРАВКА", T.REFERENCE, "Справка"),
    (r"СПИСОК НОМЕРОВ", T.REFERENCE, "Список номеров"),
    (r"СТАНДАРТНЫЕ ФРАЗЫ:?", T.STANDARD_PHRASES, "Стандартные фразы"),
    (r"В заказе \(в корзине\) проверяем.*", T.REGISTRATION, "Оформление / переоформление заказа"),
]


def parse_script(text: str) -> list[tuple[str, str, str]]:
    """Split the operator script into (topic, title, body) sections at its headings (after the contents)."""
    lines = text.splitlines()
    body_start = 0
    for index, line in enumerate(lines):
        if line.strip() == "ПРИВЕТСТВИЕ":
            body_start = index  # the first heading after the table of contents
            break
    patterns = [(re.compile(rf"^{pattern}$"), topic, title) for pattern, topic, title in HEADINGS]
    sections: list[list] = []
    for line in lines[body_start:]:
        stripped = line.strip()
        match = next(((topic, title) for regex, topic, title in patterns if regex.match(stripped)), None)
        if match and not (sections and sections[-1][1] == match[1] and not "".join(sections[-1][2]).strip()):
            sections.append([match[0], match[1], [] if not stripped.startswith("В заказе") else [stripped]])
            continue
        if sections:
            sections[-1][2].append(line.rstrip())
    return [
        (topic, title, _placeholders("\n".join(body).strip()))
        for topic, title, body in sections
        if "\n".join(body).strip()
    ]


# «меня зовут» followed straight by the next sentence: the seed's gap where the operator says their name
OPERATOR_NAME_GAP = re.compile(r"([Мм]еня зовут)\s+(?=[А-ЯЁ])")


def _placeholders(text: str) -> str:
    """The seed writes the customer's name as «ИО» / «И.О.»; ours is {customer_name}. Where the seed leaves a gap
    for the operator's own name («меня зовут Чем могу…»), ours is {operator_name}."""
    text = re.sub(r"(?<![А-ЯЁA-Z])И\.?О\.?(?![А-ЯЁа-яёA-Za-z])", "{customer_name}", text)
    return OPERATOR_NAME_GAP.sub(r"\1 {operator_name}. ", text)


DEFAULT_NAME = "Скрипт KetLogistic"
SAMPLE_NAME = "Образец: скрипт оператора интернет-магазина (Почта России)"


def default_script() -> Script | None:
    """The company's default script (not the sample), or None before the reference data is loaded."""
    return Script.objects.filter(partner__isnull=True, is_sample=False).first()


def sample_script() -> Script | None:
    return Script.objects.filter(is_sample=True).first()


@transaction.atomic
def load_default_script(*, path: Path | None = None) -> Script:
    """The company's own default script (`default_script`: a part per order status and one per topic), and the
    sample of seed 001 beside it (`load_sample_script`). Loading twice changes nothing."""
    script, created = Script.objects.get_or_create(
        partner=None, is_sample=False, defaults={"name": DEFAULT_NAME}
    )
    load_sample_script(path=path)
    if not created and script.sections.exists():
        return script
    position = 0
    for status, title, body in STATUS_SECTIONS:
        ScriptSection.objects.create(
            script=script, topic=T.ORDER_STATUS, status=status, title=title, body=body, position=position
        )
        position += 1
    for topic, title, body in topic_sections():
        ScriptSection.objects.create(script=script, topic=topic, title=title, body=body, position=position)
        position += 1
    return script


@transaction.atomic
def load_sample_script(*, path: Path | None = None) -> Script:
    """Seed 001, the real operator script of another company, parsed into sections: a sample partners may copy
    into their own script (`callcenter.services.script_copy_sample`). Loading twice changes nothing."""
    script, created = Script.objects.get_or_create(is_sample=True, defaults={"name": SAMPLE_NAME})
    if not created and script.sections.exists():
        return script
    source = path or SAMPLE_SCRIPT
    for position, (topic, title, body) in enumerate(parse_script(source.read_text(encoding="utf-8"))):
        ScriptSection.objects.create(script=script, topic=topic, title=title, body=body, position=position)
    return script


def sections_for(order) -> tuple[ScriptSection | None, list[ScriptSection]]:
    """What the operator sees for this order: the part for its status, then the topics. A partner's own
    script wins wherever it has something to say; the company's default fills the rest."""
    own = Script.objects.filter(partner_id=order.partner_id).first()
    default = default_script()
    scripts = [script for script in (own, default) if script is not None]
    by_script = {script.pk: list(script.sections.all()) for script in scripts}
    status_section = next(
        (
            section
            for script in scripts
            for section in by_script[script.pk]
            if section.topic == T.ORDER_STATUS and section.status == order.status
        ),
        None,
    )
    topics = []
    for topic in T.values:
        if topic == T.ORDER_STATUS:
            continue
        for script in scripts:
            found = [section for section in by_script[script.pk] if section.topic == topic]
            if found:
                topics.extend(found)
                break
    return status_section, topics


PLACEHOLDERS = (
    "customer_name",
    "operator_name",
    "order_number",
    "sum",
    "goods",
    "delivery_date",
    "partner_name",
    "city",
    "address",
)
PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


def unknown_placeholders(text: str) -> list[str]:
    """Words in braces that look like placeholders but are none of ours (a typo the operator would read aloud)."""
    return sorted({f"{{{name}}}" for name in re.findall(r"\{(\w+)\}", text) if name not in PLACEHOLDERS})


def status_texts(orders) -> dict[int, str]:
    """For a list of orders (the hotline's customer card), each order's status section rendered, in a fixed
    number of queries: the partner's own section where it has one, the company's default otherwise."""
    partner_ids = {order.partner_id for order in orders}
    sections = (
        ScriptSection.objects.filter(topic=T.ORDER_STATUS, script__is_sample=False)
        .filter(Q(script__partner__isnull=True) | Q(script__partner_id__in=partner_ids))
        .select_related("script")
        .order_by("-position", "-id")
    )
    chosen = {(section.script.partner_id, section.status): section for section in sections}  # the first wins
    texts = {}
    for order in orders:
        section = chosen.get((order.partner_id, order.status)) or chosen.get((None, order.status))
        texts[order.pk] = render(section, order) if section else ""
    return texts


def values_for(order, operator=None) -> dict[str, str]:
    """The order's data for the placeholders, computed once per screen (items prefetched or one query); the
    operator's name is the first name of the logged-in user reading it («…» where nobody in particular is)."""
    items = (
        order.items.all()
        if "items" in getattr(order, "_prefetched_objects_cache", {})
        else order.items.select_related("product")
    )
    goods = ", ".join(f"{item.product.name} × {item.quantity}" for item in items)
    return {
        "customer_name": order.customer_name,
        "operator_name": operator_name(operator),
        "order_number": str(order.pk),
        "partner_name": order.partner.name,
        "sum": format_money(order.cod_amount, order.currency),
        "goods": goods,
        "delivery_date": order.delivery_date.strftime("%d.%m.%Y") if order.delivery_date else "—",
        "city": order.settlement or order.city.name,
        "address": order.address,
    }


def operator_name(operator) -> str:
    """How the operator introduces themselves: their first name (the full name, the login as a last resort)."""
    if operator is None:
        return "…"
    return (getattr(operator, "first_name", "") or "").strip() or operator.display_name


def render(section: ScriptSection, order, values: dict[str, str] | None = None) -> str:
    """The section's text with the order's data in its placeholders. Only the known placeholders are
    replaced (never `str.format` on text a partner wrote); anything else in braces stays as written."""
    values = values if values is not None else values_for(order)
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], section.body)
