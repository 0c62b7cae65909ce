"""The cash ledger, the collections and the delivery events are append-only: the database refuses an UPDATE
or DELETE of their rows (a correction is a new row). TRUNCATE (test teardown) is not affected."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION ketlogistic_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: add a correcting entry instead of changing one', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;
"""
TABLES = ["delivery_cashmove", "delivery_collection", "delivery_deliveryevent"]


def forwards_sql():
    statements = [FUNCTION]
    for table in TABLES:
        statements.append(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION ketlogistic_append_only();"
        )
    return "\n".join(statements)


def backwards_sql():
    return "\n".join(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};" for table in TABLES)


class Migration(migrations.Migration):
    dependencies = [("delivery", "0001_initial")]

    operations = [migrations.RunSQL(forwards_sql(), backwards_sql())]
