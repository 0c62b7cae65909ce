"""Demo integration: a known sandbox API key for «Алем Трейд», printed by `make run`, to try the API at once."""

import hashlib

from django.db import transaction

from ketlogistic.core.models import Partner

from .models import ApiKey

DEMO_SANDBOX_KEY = "kl_test_demo0000_ketlogistic-demo-sandbox-key-do-not-use-in-production"


@transaction.atomic
def seed(context: dict | None = None) -> dict:
    partner = Partner.objects.get(name="Алем Трейд")
    ApiKey.objects.get_or_create(
        prefix="kl_test_demo0000",
        defaults={
            "partner": partner,
            "name": "Демо: песочница",
            "is_test": True,
            "key_hash": hashlib.sha256(DEMO_SANDBOX_KEY.encode()).hexdigest(),
        },
    )
    return {}
