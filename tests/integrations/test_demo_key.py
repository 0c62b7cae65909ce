"""The demo's sandbox key is made for each installation (random, printed by `make run`), never a published string."""

import hashlib
import stat

import pytest

from integrations import demo
from integrations.models import ApiKey
from ketlogistic.core.models import Partner
from setup import people as core_demo
from tests.integrations.conftest import ApiClient

pytestmark = pytest.mark.django_db

# The string every installation shared before this fix (README and the logins table printed it).
PUBLISHED = "kl_test_demo0000_ketlogistic-demo-sandbox-key-do-not-use-in-production"


@pytest.fixture
def installation(settings, tmp_path, reference_data):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    core_demo.seed()


def test_the_demo_sandbox_key_is_made_per_installation_and_printed_with_the_logins(installation, settings):
    # an installation seeded by an earlier version still holds the published key
    ApiKey.objects.create(
        partner=Partner.objects.get(name="Алем Трейд"),
        name="Демо: песочница",
        prefix="kl_test_demo0000",
        key_hash=hashlib.sha256(PUBLISHED.encode()).hexdigest(),
        is_test=True,
    )

    key = demo.seed()["demo_sandbox_key"]
    again = demo.seed()["demo_sandbox_key"]
    table = core_demo.logins_table()

    assert key != PUBLISHED and key.startswith("kl_test_") and len(key) > 40
    assert again == key  # the same key on every `make run` of this installation
    assert f"Sandbox API key of Алем Трейд (made for this installation): {key}" in table
    assert PUBLISHED not in table
    assert ApiClient(key).get("/api/v1/orders/").status_code == 200
    assert ApiClient(PUBLISHED).get("/api/v1/orders/").status_code == 401
    assert stat.S_IMODE(demo.key_file().stat().st_mode) == 0o600


def test_another_installation_gets_another_demo_key(installation, settings, tmp_path):
    first = demo.seed()["demo_sandbox_key"]
    settings.MEDIA_ROOT = str(tmp_path / "elsewhere")  # the key's file is not there: another installation

    second = demo.seed()["demo_sandbox_key"]

    assert second != first
    assert ApiClient(first).get("/api/v1/orders/").status_code == 401  # the lost key is revoked
    assert ApiClient(second).get("/api/v1/orders/").status_code == 200
    assert ApiKey.objects.filter(name="Демо: песочница", revoked_at__isnull=True).count() == 1
