"""Demo integration: a sandbox API key for «Алем Трейд», made for this installation and printed by `make run`,
and a sandbox catalogue (copies of its live products) so that test orders can be sent with it at once.

The key is random, issued once per installation like any other key (only its hash is in the database), and its
text is kept beside the uploaded files (`MEDIA_ROOT/demo/sandbox-api-key.txt`, readable by its owner only) so
that every `make run` can print it again. A key that no longer works there (another database, revoked) is
replaced. The fixed key earlier versions published (`kl_test_demo0000_…`) is revoked wherever it is found.
"""

import os
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalogue.models import Product
from ketlogistic.core.models import Partner

from .api_keys import active_key, api_key_create
from .models import ApiKey

DEMO_PARTNER = "Алем Трейд"
DEMO_KEY_NAME = "Демо: песочница"
PUBLISHED_PREFIX = "kl_test_demo0000"  # the key every installation shared before: never valid again


def key_file() -> Path:
    return Path(settings.MEDIA_ROOT) / "demo" / "sandbox-api-key.txt"


def _working(raw: str) -> bool:
    key = active_key(raw)
    return key is not None and key.is_test and key.partner.name == DEMO_PARTNER


def demo_sandbox_key() -> str | None:
    """This installation's demo sandbox key, if it has one that works."""
    try:
        raw = key_file().read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return raw if raw and _working(raw) else None


def _write(raw: str) -> None:
    path = key_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(raw + "\n")


@transaction.atomic
def seed(context: dict | None = None) -> dict:
    ApiKey.objects.filter(prefix=PUBLISHED_PREFIX, revoked_at__isnull=True).update(revoked_at=timezone.now())
    partner = Partner.objects.get(name=DEMO_PARTNER)
    for product in Product.objects.filter(partner=partner, is_test=False).order_by("sku"):
        Product.objects.get_or_create(
            partner=partner,
            sku=product.sku,
            is_test=True,
            defaults={"name": product.name, "price": product.price, "weight_grams": product.weight_grams},
        )
    raw = demo_sandbox_key()
    if raw is None:
        ApiKey.objects.filter(
            partner=partner, name=DEMO_KEY_NAME, is_test=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        raw = api_key_create(partner=partner, name=DEMO_KEY_NAME, is_test=True).key
        _write(raw)
    return {"demo_sandbox_key": raw}
