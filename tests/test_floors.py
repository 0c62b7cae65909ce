"""The floors of the house (issue 16): one list of reactions at the top, typed events, no registry in a ready(),
the setup commands on the top floor, and the moved models' stored references following them."""

import ast
import tomllib
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import transaction

from billing.events import ClaimUpdated
from callcenter.events import CallAttempted
from delivery.events import CollectionsSettled, PostParcelArrived
from ketlogistic import wiring
from ketlogistic.core import reactions
from ketlogistic.core.model_moves import _move
from ketlogistic.core.models import AuditEntry
from orders.amendments import OrderAmended
from orders.services import CustomerMarked
from orders.workflow import OrderMoved, OrdersCreated

ROOT = Path(__file__).resolve().parents[1]
IMPORT_LINTER = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
# the project's packages, as the import contracts name them (one list: a new app is added there)
APPS = tuple(IMPORT_LINTER["root_packages"])


def _floors() -> list[str]:
    """The layers contract's floors, ground first, each floor's apps in the order written."""
    layers = next(c for c in IMPORT_LINTER["contracts"] if c["type"] == "layers")["layers"]
    return [app.strip() for layer in reversed(layers) for app in layer.split("|")]


def test_installed_apps_stand_in_the_order_of_the_floors():
    """INSTALLED_APPS lists the project's apps ground first, as the layers contract does, and every app of the
    contract is installed and packaged."""
    from django.conf import settings

    ours = [app for app in settings.INSTALLED_APPS if app.split(".")[0] in APPS]
    assert ours == _floors()
    packaged = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert {pattern.rstrip("*") for pattern in packaged["packages"]["find"]["include"]} == set(APPS)


def test_every_event_a_floor_raises_has_its_reactions_listed_in_the_wiring():
    assert set(wiring.REACTIONS) == {
        OrderMoved,
        OrdersCreated,
        OrderAmended,
        CustomerMarked,
        CallAttempted,
        CollectionsSettled,
        PostParcelArrived,
        ClaimUpdated,
    }
    assert all(wiring.REACTIONS[event] for event in wiring.REACTIONS)
    assert reactions.reactions_to(OrderMoved) == wiring.REACTIONS[OrderMoved]


def test_no_app_registers_a_reaction_in_its_ready_method():
    """Reading `ketlogistic/wiring.py` tells everything a change sets off: no AppConfig wires anything itself."""
    readies = [
        str(path.relative_to(ROOT))
        for app in APPS
        for path in (ROOT / app).rglob("apps.py")
        if any(
            isinstance(node, ast.FunctionDef) and node.name == "ready"
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]
    assert readies == []


def test_reactions_run_in_the_listed_order_inside_the_callers_transaction(monkeypatch):
    heard = []

    class Happened:
        pass

    monkeypatch.setattr(
        wiring,
        "REACTIONS",
        {
            Happened: (
                lambda event: heard.append(("first", event)),
                lambda event: heard.append(("second", event)),
            )
        },
    )
    event = Happened()
    reactions.react(event)
    assert heard == [("first", event), ("second", event)]


@pytest.mark.django_db
def test_a_failing_reaction_fails_the_order_move_it_reacts_to(partner_a, product_a, head, monkeypatch):
    """A reaction runs in the move's transaction: if it raises, the status change and its history are undone."""
    from orders import workflow
    from orders.models import OrderHistory
    from tests.factories import make_order

    order_a = make_order(partner_a, product=product_a)

    def broken(moved):
        raise RuntimeError("the reaction failed")

    monkeypatch.setattr(wiring, "REACTIONS", {**wiring.REACTIONS, OrderMoved: (broken,)})
    before = order_a.status
    with pytest.raises(RuntimeError), transaction.atomic():
        workflow.perform(order_a, action="send", actor=head, source="staff")
    order_a.refresh_from_db()
    assert order_a.status == before
    assert not OrderHistory.objects.filter(order=order_a, action="send").exists()


@pytest.mark.django_db(transaction=True)
def test_seed_demo_on_a_database_without_reference_data_loads_it_first():
    """`seed_demo` right after `migrate` (no `load_reference_data`) answered City.DoesNotExist."""
    from geography.models import City, ShippingGroup
    from ketlogistic.core.models import Partner, WorkingCalendar

    call_command("flush", "--no-input", stdout=StringIO())
    assert not City.objects.exists()

    out = StringIO()
    call_command("seed_demo", stdout=out)

    assert City.objects.exists() and ShippingGroup.objects.count() == 2 and WorkingCalendar.objects.exists()
    assert Partner.objects.exists()
    assert "Geography:" in out.getvalue()


@pytest.mark.django_db
def test_a_moved_models_content_type_and_audit_labels_follow_it_to_its_new_app():
    """The data migration of a move (geography 0002, catalogue 0002): same content type id, new label; the audit
    log's object labels follow; running it back restores both."""
    from django.contrib.contenttypes.models import ContentType

    city_type = ContentType.objects.get_for_model(apps.get_model("geography", "City"))
    AuditEntry.objects.create(action="test", object_type="geography.City", object_id="1", summary="x")

    _move(apps, "default", "geography", "warehouses", ["City"])  # as before the upgrade
    assert ContentType.objects.get(pk=city_type.pk).app_label == "warehouses"
    assert AuditEntry.objects.filter(object_type="warehouses.City").count() == 1

    # an interrupted upgrade's post_migrate made a new, empty content type under the new label: the old one wins
    stray = ContentType.objects.create(app_label="geography", model="city")
    _move(apps, "default", "warehouses", "geography", ["City"])
    assert ContentType.objects.get(pk=city_type.pk).app_label == "geography"
    assert not ContentType.objects.filter(pk=stray.pk).exists()
    assert AuditEntry.objects.filter(object_type="geography.City").count() == 1
    ContentType.objects.clear_cache()


def test_no_function_imports_a_module_of_the_project_to_dodge_a_cycle():
    """With the floors there is no cycle left to dodge: every import of the project's own modules is at the top
    of its file, where `lint-imports` sees it (tests, migrations and the benchmarks aside)."""
    found = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import | ast.ImportFrom) and node.col_offset > 0:
                    module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                    relative = isinstance(node, ast.ImportFrom) and node.level > 0
                    if relative or (module or "").split(".")[0] in APPS:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_an_event_the_wiring_does_not_list_is_an_error_not_a_silence():
    class Unlisted:
        pass

    with pytest.raises(ImproperlyConfigured, match="Unlisted"):
        reactions.react(Unlisted())
    with pytest.raises(ImproperlyConfigured, match="ROUTE_SENT_ORDR"):
        reactions.extension("ROUTE_SENT_ORDR")


def test_manage_py_check_reports_a_wiring_that_does_not_import_or_misses_an_extension(settings, monkeypatch):
    assert reactions.wiring_is_complete() == []

    settings.WIRING_MODULE = "ketlogistic.no_such_wiring"
    assert [error.id for error in reactions.wiring_is_complete()] == ["core.E201"]

    settings.WIRING_MODULE = "ketlogistic.wiring"
    monkeypatch.delattr(wiring, "ROUTE_SENT_ORDER")
    assert [error.id for error in reactions.wiring_is_complete()] == ["core.E203"]
