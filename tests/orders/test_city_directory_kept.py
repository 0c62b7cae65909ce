"""The city directory every order is checked against is read once per process (`ketlogistic.core.kept`), not on
every intake, and read again when the geography is written (the reference list loaded, the admin): at once in the
process that wrote it, again once the change commits, and in any process within `REFERENCE_CACHE_SECONDS`."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from geography.loader import DATA_FILE, load_geography
from geography.models import City
from ketlogistic.core.roles import Role
from orders.intake import CityDirectory, orders_create_many
from tests.factories import order_row

pytestmark = pytest.mark.django_db


def _city_reads(call) -> int:
    with CaptureQueriesContext(connection) as queries:
        call()
    return sum('FROM "warehouses_city"' in q["sql"] for q in queries.captured_queries)


def test_intake_reads_the_directory_once_then_keeps_it(partner_a, product_a):
    def create(n):
        return lambda: orders_create_many(
            partner=partner_a, rows=[order_row(external_id=f"K-{n}")], actor=None, source="api"
        )

    assert _city_reads(create(1)) == 1
    assert _city_reads(create(2)) == 0
    assert CityDirectory.current() is CityDirectory.current()


def test_the_reference_list_loaded_again_is_read_again_at_once_and_after_its_commit(
    partner_a, product_a, tmp_path, django_capture_on_commit_callbacks
):
    CityDirectory.current()
    data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    almaty = next(row for row in data["cities"] if row["name"] == "Алматы")
    almaty["aliases"] = [*(almaty.get("aliases") or []), "Алма-Ата южная"]
    changed = tmp_path / "geography.json"
    changed.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    with django_capture_on_commit_callbacks(execute=True):
        load_geography(path=changed)  # a new spelling in the company's list
        assert _city_reads(CityDirectory.current) == 1  # read again at once, in this process
        assert _city_reads(CityDirectory.current) == 0
    assert _city_reads(CityDirectory.current) == 1  # and again once committed

    [result] = orders_create_many(
        partner=partner_a,
        rows=[order_row(external_id="K-3", city="алма-ата  южная")],
        actor=None,
        source="api",
    )
    assert result.status == "created" and result.order.city.name == "Алматы"


def test_a_city_changed_in_the_admin_is_read_again(make_user, login):
    client = login(make_user(Role.ADMINISTRATOR))
    CityDirectory.current()
    almaty = City.objects.get(name="Алматы")

    changed = client.post(
        reverse("admin:geography_city_change", args=[almaty.pk]),
        {"shipping_group": "1", "transit_days": "2", "is_emergency": "on", "point_a": "ТРЦ Mega"},
    )

    assert changed.status_code == 302
    assert _city_reads(CityDirectory.current) == 1
    assert CityDirectory.current().by_id[almaty.pk].is_emergency


def test_other_processes_read_it_again_within_the_lifetime(settings):
    settings.REFERENCE_CACHE_SECONDS = 0  # another process's view of a change: as if its time had passed

    assert _city_reads(CityDirectory.current) == 1
    assert _city_reads(CityDirectory.current) == 1
