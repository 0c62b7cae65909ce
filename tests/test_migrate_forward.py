"""Upgrades: a database made and filled by an older revision migrates forward with no row lost
(`make migrate-check`, ketlogistic/migrate_check.py). The comparison itself is proved here on snapshots made by
hand; the slow test runs the whole check from the commit before issue 16's restructure to this tree."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ketlogistic import migrate_check
from ketlogistic.migrate_check import Models, compare

ROOT = Path(__file__).resolve().parent.parent

MODELS_BEFORE = Models(
    [
        ["contenttypes", "contenttype", "contenttypes.ContentType", "django_content_type"],
        ["warehouses", "city", "warehouses.City", "warehouses_city"],
        ["orders", "order", "orders.Order", "orders_order"],
    ]
)
# City moved to `geography`, its table kept (Meta.db_table)
MODELS_AFTER = Models(
    [
        ["contenttypes", "contenttype", "contenttypes.ContentType", "django_content_type"],
        ["geography", "city", "geography.City", "warehouses_city"],
        ["orders", "order", "orders.Order", "orders_order"],
    ]
)


def snapshot(**changes) -> dict:
    """A snapshot as `migrate_check.snapshot` makes it, before the move."""
    result = {
        "tables": {
            "django_content_type": {"count": 3, "pk_digest": "ct"},
            "django_migrations": {"count": 40, "pk_digest": "m"},
            "django_admin_log": {"count": 3, "pk_digest": "log"},
            "warehouses_city": {"count": 77, "pk_digest": "cities"},
            "orders_order": {"count": 2000, "pk_digest": "orders"},
            "orders_sequence": {"count": 1, "pk_digest": None},
        },
        "content_types": {
            1: ["contenttypes", "contenttype"],
            2: ["warehouses", "city"],
            3: ["orders", "order"],
        },
        "ct_refs": {"django_admin_log.content_type_id": {1: 1, 2: 1, 3: 1}},
        "labels": {"core_auditentry.object_type": {"warehouses.City": 2, "orders.Order": 5, "": 9}},
    }
    for key, value in changes.items():
        result[key] = {**result[key], **value}
    return result


MOVED = {
    "content_types": {2: ["geography", "city"]},
    "labels": {"core_auditentry.object_type": {"geography.City": 2, "orders.Order": 5, "": 9}},
}


def problems(before: dict, after: dict, **kwargs) -> list[str]:
    return compare(before, after, MODELS_BEFORE, MODELS_AFTER, **kwargs).problems


def test_a_move_that_keeps_every_row_and_rewrites_its_content_type_and_labels_passes():
    result = compare(snapshot(), snapshot(**MOVED), MODELS_BEFORE, MODELS_AFTER)
    assert result.problems == []
    assert "content type 2: warehouses.city → geography.city (same id)" in result.notes
    assert "core_auditentry.object_type: warehouses.City → geography.City" in result.notes


def test_a_lost_row_fails():
    after = snapshot(**MOVED, tables={"orders_order": {"count": 1999, "pk_digest": "fewer"}})
    assert problems(snapshot(), after) == ["table orders_order: 2000 rows before, 1999 after"]


def test_an_added_row_in_a_table_of_the_project_fails():
    after = snapshot(**MOVED, tables={"orders_sequence": {"count": 2, "pk_digest": None}})
    assert problems(snapshot(), after) == ["table orders_sequence: 1 rows before, 2 after"]


def test_a_row_replaced_by_another_fails_although_the_count_is_the_same():
    after = snapshot(**MOVED, tables={"warehouses_city": {"count": 77, "pk_digest": "other"}})
    assert problems(snapshot(), after) == [
        "table warehouses_city: the same 77 rows by count, but other primary keys"
    ]


def test_bookkeeping_tables_may_grow_but_never_shrink():
    grown = snapshot(**MOVED, tables={"django_migrations": {"count": 45, "pk_digest": "more"}})
    assert problems(snapshot(), grown) == []
    shrunk = snapshot(**MOVED, tables={"django_migrations": {"count": 39, "pk_digest": "less"}})
    assert problems(snapshot(), shrunk) == ["table django_migrations: 40 rows before, 39 after"]


def test_a_table_that_disappears_fails_unless_its_rename_is_declared():
    after = snapshot(**MOVED)
    after["tables"]["geography_city"] = after["tables"].pop("warehouses_city")
    assert problems(snapshot(), after) == [
        "table warehouses_city disappeared (77 rows)",
    ]
    assert problems(snapshot(), after, renames={"warehouses_city": "geography_city"}) == []


def test_a_new_table_is_only_noted():
    after = snapshot(**MOVED, tables={"geography_region": {"count": 4, "pk_digest": "r"}})
    result = compare(snapshot(), after, MODELS_BEFORE, MODELS_AFTER)
    assert result.problems == []
    assert "new table geography_region (4 rows)" in result.notes


def test_a_moved_model_whose_content_type_was_not_rewritten_fails():
    """The state-only move without its data migration: the old content type stays (stale), post_migrate makes a
    new one with another id, and the rows that referenced the old one now point at no model."""
    after = snapshot(
        content_types={4: ["geography", "city"]},
        tables={
            "django_content_type": {"count": 4, "pk_digest": "ct+"},
            "django_migrations": {"count": 41, "pk_digest": "m+"},
        },
    )
    assert problems(snapshot(), after) == [
        "content type 2 (warehouses.city) now names no model: warehouses.city; "
        "a new content type was made instead: geography.city (id 4)"
    ]


def test_a_deleted_content_type_and_references_moved_to_another_fail():
    after = snapshot(
        content_types={2: ["geography", "city"]},
        ct_refs={"django_admin_log.content_type_id": {1: 1, 2: 0, 3: 2}},
        labels=MOVED["labels"],
    )
    del after["content_types"][1]
    assert problems(snapshot(), after) == [
        "content type 1 (contenttypes.contenttype) was deleted",
        "django_admin_log.content_type_id: 1 rows referenced content type 2 (warehouses.city), now 0",
        "django_admin_log.content_type_id: 1 rows referenced content type 3 (orders.order), now 2",
    ]


def test_a_label_left_naming_the_old_app_fails():
    after = snapshot(content_types=MOVED["content_types"])  # labels unchanged: still "warehouses.City"
    assert problems(snapshot(), after) == [
        "core_auditentry.object_type: 0 rows say 'geography.City', expected 2",
        "core_auditentry.object_type: 2 rows say 'warehouses.City', expected 0 "
        "(warehouses.City names no model now; expected geography.City)",
    ]


def test_the_makefile_and_the_script_name_the_same_base():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^BASE \?= (\S+)$", makefile, re.M).group(1) == migrate_check.DEFAULT_BASE


@pytest.mark.slow  # ~2 minutes: BASE's migrate and demo data, then this tree's migrate and checks
def test_a_database_of_the_commit_before_the_restructure_migrates_forward_with_no_row_lost():
    base = migrate_check.DEFAULT_BASE
    if not migrate_check.revision_available(base):
        pytest.skip(
            f"git history for {base} is unavailable here (a shallow clone or no .git): nothing to unpack"
        )
    proc = subprocess.run(
        [sys.executable, "-m", "ketlogistic.migrate_check", "--base", base],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]
    assert "MIGRATE CHECK PASSED" in proc.stdout
