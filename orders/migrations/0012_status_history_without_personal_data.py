"""The status history keeps no personal data of the customer (`orders.workflow.PERSONAL_DETAIL_KEYS`): «delivery
agreed» rows written by the call center used to copy the customer's address into `details`, where retention never
looked. One set-based UPDATE takes such keys out of every existing row (the address is on the order, its changes in
the amendment history). Nothing to undo: the reverse is a no-op.
"""

from django.db import migrations

PERSONAL_DETAIL_KEYS = ["address", "customer_name", "comment", "phone", "phones"]  # as in orders.workflow

FORGET_PERSONAL_DETAILS = """
UPDATE orders_orderhistory SET details = details - %(keys)s::text[]
WHERE details ?| %(keys)s::text[]
"""


def forget(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FORGET_PERSONAL_DETAILS, {"keys": PERSONAL_DETAIL_KEYS})


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0011_external_id_unique_per_mode"),
    ]

    operations = [migrations.RunPython(forget, migrations.RunPython.noop)]
