"""Post to all of Kazakhstan and the refusal's fault mark (issue 20, items 5 and 8).

* `settlement`, `postal_index`: a post order to a settlement outside the reference list names it, with its postal
  index; the order's `city` is then the main warehouse's (it ships every post parcel).
* `refusal_fault`: a refusal or a return that was not the customer's fault (wrong goods, damage, our error,
  circumstances) does not count against the customer («возвратник», seed 001).

Each column is added with a database default: the catalog only (no rewrite, no scan), and the intake's COPY and every
raw insert written before them keep working. The guard of migration 0010 is made again with the new columns:
`settlement` and `postal_index` never change after intake (like `city`); `refusal_fault` changes through the
workflow's door (with the refusal or the return) or the amendment door (staff, later), as the agreed date does.
"""

from django.db import migrations, models

OLD_GUARDED = [
    "partner_id",
    "external_id",
    "country",
    "city_id",
    "currency",
    "customer_name",
    "comment",
    "cod_amount",
    "original_cod",
    "original_goods_value",
    "address",
    "delivery_date",
    "requested_delivery_date",
]
OLD_AMENDABLE = [
    "cod_amount",
    "original_cod",
    "original_goods_value",
    "address",
    "delivery_date",
    "requested_delivery_date",
]
ERASABLE = ["customer_name", "address", "comment"]
GUARDED = [*OLD_GUARDED, "settlement", "postal_index", "refusal_fault"]
AMENDABLE = [*OLD_AMENDABLE, "refusal_fault"]


def guard_sql(guarded, amendable, workflow):
    def changed(columns):
        return " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)

    def unchanged_except(allowed):
        return " AND ".join(f"OLD.{c} IS NOT DISTINCT FROM NEW.{c}" for c in guarded if c not in allowed)

    return f"""
CREATE OR REPLACE FUNCTION orders_order_guard() RETURNS trigger AS $$
DECLARE
    door text := coalesce(current_setting('ketlogistic.order_door', true), '');
BEGIN
    IF door = 'amendment' AND {unchanged_except(amendable)} THEN
        RETURN NEW;
    END IF;
    -- a status move of the workflow, through its door: the agreed date and the refusal's fault mark come with the
    -- status
    IF door = 'workflow' AND OLD.status IS DISTINCT FROM NEW.status AND {unchanged_except(workflow)} THEN
        RETURN NEW;
    END IF;
    -- the retention task erases the customer's personal data and stamps it in the same UPDATE
    IF OLD.personal_data_erased_at IS NULL AND NEW.personal_data_erased_at IS NOT NULL
       AND {unchanged_except(ERASABLE)} THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'order %: its money and data change only through orders.amendments.order_amend', OLD.id
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS orders_order_guard ON orders_order;
CREATE TRIGGER orders_order_guard BEFORE UPDATE ON orders_order
    FOR EACH ROW WHEN ({changed(guarded)})
    EXECUTE FUNCTION orders_order_guard();
"""


GUARD = guard_sql(GUARDED, AMENDABLE, ["delivery_date", "refusal_fault"])
OLD_GUARD = guard_sql(OLD_GUARDED, OLD_AMENDABLE, ["delivery_date"])


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0016_amendment_reason_message'),
    ]

    operations = [
        migrations.AddField(
            model_name='order',
            name='postal_index',
            field=models.CharField(blank=True, db_default='', default='', max_length=6, verbose_name='postal index'),
        ),
        migrations.AddField(
            model_name='order',
            name='refusal_fault',
            field=models.CharField(blank=True, choices=[('wrong_goods', 'Wrong goods'), ('damaged', 'Damaged goods'), ('our_error', 'Our error'), ('circumstances', 'Circumstances beyond the customer')], db_default='', default='', max_length=16, verbose_name="refusal not the customer's fault"),
        ),
        migrations.AddField(
            model_name='order',
            name='settlement',
            field=models.CharField(blank=True, db_default='', default='', help_text='A post order to a settlement outside the reference list: its name as the partner wrote it', max_length=100, verbose_name='settlement outside the list'),
        ),
        migrations.RunSQL(GUARD, reverse_sql=OLD_GUARD),
    ]
