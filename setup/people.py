"""Demo people: two partners and one login for every role (printed by `make run`)."""

from base64 import b32decode
from dataclasses import dataclass

from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from geography.models import City
from integrations.demo import demo_sandbox_key
from ketlogistic.core.models import Partner, StaffScope, User
from ketlogistic.core.roles import Role
from ketlogistic.core.second_factor import REQUIRED_ROLES

DEMO_PASSWORD = "ketdemo-2026"
# The demo logins whose role requires a second factor (head, supervisor, finance, admin) come enrolled with this
# authenticator key, so that a newcomer signs in at once: add it to any authenticator app (time-based, 6 digits, 30 s)
# or ask `python manage.py demo_totp_code`. Only the demo data set has it (`seed_demo`); a real login enrols its own.
DEMO_TOTP_SECRET = "KETDEMOTOTPSECRETFORALLDEMOLOGIN"


def demo_totp_key() -> bytes:
    return b32decode(DEMO_TOTP_SECRET)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    first_name: str
    last_name: str
    partner: str | None = None
    home_country: str = "KZ"


PARTNERS = [
    {
        "name": "Алем Трейд",
        "legal_form": "ТОО",
        "legal_name": "«Алем Трейд»",
        "country": "KZ",
        "currency": "KZT",
        "contact_phone": "+7 727 355 10 10",
        "contact_email": "orders@alem-trade.kz",
    },
    {
        "name": "Ала-Тоо Маркет",
        "legal_form": "ОсОО",
        "legal_name": "«Ала-Тоо Маркет»",
        "country": "KG",
        "currency": "KGS",
        "contact_phone": "+996 312 90 80 70",
        "contact_email": "shop@alatoo-market.kg",
    },
    # ships each order packed at the main warehouse (fulfilment "packed at the main warehouse")
    {
        "name": "Шарм Косметика",
        "legal_form": "ИП",
        "legal_name": "Шарипова А. К.",
        "country": "KZ",
        "currency": "KZT",
        "contact_phone": "+7 701 500 40 30",
        "contact_email": "sharm@example.kz",
    },
]

LOGINS = [
    DemoLogin("partner_kz", Role.PARTNER_ADMIN, "Айгерим", "Сапарова", partner="Алем Трейд"),
    DemoLogin("partner_kz_staff", Role.PARTNER_STAFF, "Ерлан", "Жумабаев", partner="Алем Трейд"),
    DemoLogin(
        "partner_kg", Role.PARTNER_ADMIN, "Нурлан", "Асанов", partner="Ала-Тоо Маркет", home_country="KG"
    ),
    DemoLogin("head", Role.HEAD_OF_DEPARTMENT, "Диана", "Ким"),
    DemoLogin("logist", Role.LOGIST, "Асель", "Нурланова"),
    DemoLogin("courier_admin", Role.COURIER_ADMIN, "Марат", "Ахметов"),
    DemoLogin("courier", Role.COURIER, "Бауыржан", "Искаков"),
    DemoLogin("courier2", Role.COURIER, "Ерлан", "Сапаров"),
    DemoLogin("courier_kg", Role.COURIER, "Азамат", "Токтосунов", home_country="KG"),
    DemoLogin("hotline", Role.HOTLINE, "Жанна", "Омарова"),
    DemoLogin("warehouse", Role.WAREHOUSE, "Серик", "Болатов"),
    DemoLogin("qc", Role.QUALITY_CONTROL, "Гульнара", "Тулегенова"),
    DemoLogin("supervisor", Role.SUPERVISOR, "Руслан", "Касымов"),
    DemoLogin("finance", Role.FINANCE_DIRECTOR, "Дамир", "Абдрахманов"),
    DemoLogin("admin", Role.ADMINISTRATOR, "Админ", "Системы"),
]


@transaction.atomic
def seed(context: dict | None = None) -> dict:
    partners = {}
    for row in PARTNERS:
        partner, _ = Partner.objects.get_or_create(name=row["name"], defaults=row)
        partners[partner.name] = partner
    users = {}
    for login in LOGINS:
        user, created = User.objects.get_or_create(
            username=login.username,
            defaults={
                "role": login.role,
                "first_name": login.first_name,
                "last_name": login.last_name,
                "partner": partners.get(login.partner) if login.partner else None,
                "home_country": login.home_country,
                "email": f"{login.username}@demo.ketlogistic.kz",
                "is_staff": login.role == Role.ADMINISTRATOR,
                "is_superuser": login.role == Role.ADMINISTRATOR,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        if login.role in REQUIRED_ROLES and not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            TOTPDevice.objects.create(
                user=user, name="demo authenticator", key=demo_totp_key().hex(), confirmed=True
            )
        users[login.username] = user
    kz, kg = partners["Алем Трейд"], partners["Ала-Тоо Маркет"]
    almaty = City.objects.get(country="KZ", name="Алматы")
    bishkek = City.objects.get(country="KG", name="Бишкек")
    astana = City.objects.get(country="KZ", name="Астана")
    sharm = partners["Шарм Косметика"]
    scopes = [
        (users["head"], {"partner": kz, "country": "KZ"}),
        (users["head"], {"partner": sharm, "country": "KZ"}),
        (users["head"], {"partner": kg, "country": "KG"}),
        (users["logist"], {"country": "KZ"}),
        (users["logist"], {"country": "KG"}),
        (users["courier_admin"], {"city": almaty}),
        (users["courier_admin"], {"city": bishkek}),
        (users["courier"], {"city": almaty}),
        (users["courier2"], {"city": almaty}),
        (users["courier_kg"], {"city": bishkek}),
        (users["warehouse"], {"city": astana}),
        (users["warehouse"], {"country": "KZ"}),
        (users["warehouse"], {"country": "KG"}),
    ]
    for user, fields in scopes:
        StaffScope.objects.get_or_create(
            user=user,
            country=fields.get("country", ""),
            partner=fields.get("partner"),
            city=fields.get("city"),
        )
    return {"partners": partners, "users": users}


def logins_table(*, base_url: str = "http://127.0.0.1:8000") -> str:
    width = max(len(login.username) for login in LOGINS)
    lines = [f"Demo logins (password for all: {DEMO_PASSWORD})"]
    for login in LOGINS:
        who = f"{Role(login.role).label}" + (f" — {login.partner}" if login.partner else "")
        if login.role in REQUIRED_ROLES:
            who += " · code"
        lines.append(f"  {login.username.ljust(width)}  {who}")
    second = ", ".join(login.username for login in LOGINS if login.role in REQUIRED_ROLES)
    lines.append(
        f"Second factor of {second} (· code): after the password type the 6-digit code of any authenticator app "
        f"with the demo key {DEMO_TOTP_SECRET} (time-based), or of `python manage.py demo_totp_code`"
    )

    key = demo_sandbox_key()
    if key is None:
        lines.append(
            "Sandbox API key of Алем Трейд: none yet (manage.py seed_demo makes one for this installation)"
        )
    else:
        lines.append(f"Sandbox API key of Алем Трейд (made for this installation): {key}")
        lines.append(
            f"  try: curl -H 'Authorization: Api-Key <key>' {base_url.rstrip('/')}/api/v1/orders/"
            "  (docs: /api/v1/docs/)"
        )
    return "\n".join(str(line) for line in lines)
