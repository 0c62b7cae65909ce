"""Moving a model from one app to another without touching its table: the stored references follow it.

A model that changes app keeps its table (`Meta.db_table`) and its rows, so the schema migrations are state only.
What the database still names by app label has to follow in a data migration: the content type (and with it the
permissions granted on the model) and the audit log's `object_type` (`"warehouses.City"` → `"geography.City"`).
`follow_moved_models(...)` is that data migration, reversible; the content type keeps its id, so any row that
points at it (a permission, a generic relation) keeps pointing at the same model.
"""

from django.db import migrations


def follow_moved_models(old_label: str, new_label: str, model_names: list[str]) -> migrations.RunPython:
    def forwards(apps, schema_editor, *, old=old_label, new=new_label):
        _move(apps, schema_editor.connection.alias, old, new, model_names)

    def backwards(apps, schema_editor, *, old=old_label, new=new_label):
        _move(apps, schema_editor.connection.alias, new, old, model_names)

    return migrations.RunPython(forwards, backwards, elidable=False)


def _move(apps, alias: str, old: str, new: str, model_names: list[str]) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    AuditEntry = apps.get_model("core", "AuditEntry")
    for name in model_names:
        lower = name.lower()
        moving = ContentType.objects.using(alias).filter(app_label=old, model=lower)
        if moving.exists():
            # A content type created under the new label before this ran (a post_migrate of an interrupted
            # upgrade) has nothing pointing at it yet: the old one, with its permissions, wins.
            ContentType.objects.using(alias).filter(app_label=new, model=lower).delete()
            moving.update(app_label=new)
        AuditEntry.objects.using(alias).filter(object_type=f"{old}.{name}").update(
            object_type=f"{new}.{name}"
        )
