"""One door for changing an order after intake (`orders.amendments`).

* The partner's own figures on every order: `original_cod` and `original_goods_value` (the items at the order's
  prices). Existing orders take their current sum (no earlier change of it was recorded anywhere) and the value of
  their items: one UPDATE of every order (≈ 20 s for a million orders on a 2-core machine, the table locked).
* `OrderAmendment`: the history of every change, old → new, who, why, through which channel.
* The database guard: an order's money and data (sum, address, delivery dates, the partner's figures, and what
  never changes after intake: partner, number, country, city, currency, customer, comment) change only through
  the amendment service, which opens its door for its own UPDATE with a transaction-local setting
  (`ketlogistic.order_door = 'amendment'`). Two writes need no door because they are other doors: a status move
  of the workflow sets or clears the agreed delivery date in the same UPDATE as the status, and the retention
  task's erasure blanks name, address and comment in the UPDATE that stamps `personal_data_erased_at`. Items are
  written by the intake (its door: 'intake') and changed or removed only by the amendment service.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

GUARDED = [
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
AMENDABLE = [
    "cod_amount",
    "original_cod",
    "original_goods_value",
    "address",
    "delivery_date",
    "requested_delivery_date",
]
ERASABLE = ["customer_name", "address", "comment"]


def _changed(columns):
    return " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)


def _unchanged_except(allowed):
    return " AND ".join(f"OLD.{c} IS NOT DISTINCT FROM NEW.{c}" for c in GUARDED if c not in allowed)


FILL = """
UPDATE orders_order o
   SET original_cod = o.cod_amount,
       original_goods_value = coalesce(
           (SELECT sum(i.quantity * i.unit_price) FROM orders_orderitem i WHERE i.order_id = o.id), 0
       );
"""

GUARD = f"""
CREATE OR REPLACE FUNCTION orders_order_guard() RETURNS trigger AS $$
DECLARE
    door text := coalesce(current_setting('ketlogistic.order_door', true), '');
BEGIN
    IF door = 'amendment' AND {_unchanged_except(AMENDABLE)} THEN
        RETURN NEW;
    END IF;
    -- a status move of the workflow: the agreed date comes and goes with the status
    IF OLD.status IS DISTINCT FROM NEW.status AND {_unchanged_except(["delivery_date"])} THEN
        RETURN NEW;
    END IF;
    -- the retention task erases the customer's personal data and stamps it in the same UPDATE
    IF OLD.personal_data_erased_at IS NULL AND NEW.personal_data_erased_at IS NOT NULL
       AND {_unchanged_except(ERASABLE)} THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'order %: its money and data change only through orders.amendments.order_amend', OLD.id
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER orders_order_guard BEFORE UPDATE ON orders_order
    FOR EACH ROW WHEN ({_changed(GUARDED)})
    EXECUTE FUNCTION orders_order_guard();

CREATE OR REPLACE FUNCTION orders_orderitem_guard() RETURNS trigger AS $$
DECLARE
    door text := coalesce(current_setting('ketlogistic.order_door', true), '');
BEGIN
    IF (TG_OP = 'INSERT' AND door = 'intake') OR (TG_OP <> 'INSERT' AND door = 'amendment') THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'order items are written by the intake and changed only through orders.amendments.order_amend'
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;

-- per statement: a COPY of ten thousand items asks once
CREATE TRIGGER orders_orderitem_guard BEFORE INSERT OR UPDATE OR DELETE ON orders_orderitem
    FOR EACH STATEMENT EXECUTE FUNCTION orders_orderitem_guard();
"""

# The history's rows take their ids from the status history's sequence (as calls and escalations do), so the
# timeline shows a change and the status move that followed it at the same instant in the order they were written.
SEQUENCE = """
DO $$
DECLARE
    story regclass := pg_get_serial_sequence('orders_orderhistory', 'id')::regclass;
BEGIN
    ALTER TABLE orders_orderamendment ALTER COLUMN id DROP IDENTITY;
    EXECUTE format('ALTER TABLE orders_orderamendment ALTER COLUMN id SET DEFAULT nextval(%L::regclass)', story);
END
$$;
"""

UNGUARD = """
DROP TRIGGER IF EXISTS orders_orderitem_guard ON orders_orderitem;
DROP FUNCTION IF EXISTS orders_orderitem_guard();
DROP TRIGGER IF EXISTS orders_order_guard ON orders_order;
DROP FUNCTION IF EXISTS orders_order_guard();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0003_notice"),
        ("orders", "0009_tracking_by_external_id"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="original_cod",
            field=models.DecimalField(
                decimal_places=2, max_digits=14, null=True, verbose_name="partner's cash on delivery"
            ),
        ),
        migrations.AddField(
            model_name="order",
            name="original_goods_value",
            field=models.DecimalField(
                decimal_places=2, max_digits=14, null=True, verbose_name="partner's goods value"
            ),
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="order",
            name="original_cod",
            field=models.DecimalField(
                decimal_places=2, max_digits=14, verbose_name="partner's cash on delivery"
            ),
        ),
        migrations.AlterField(
            model_name="order",
            name="original_goods_value",
            field=models.DecimalField(decimal_places=2, max_digits=14, verbose_name="partner's goods value"),
        ),
        migrations.AddConstraint(
            model_name="order",
            constraint=models.CheckConstraint(
                condition=models.Q(("original_cod__gte", 0), ("original_goods_value__gte", 0)),
                name="order_original_figures_not_negative",
            ),
        ),
        migrations.CreateModel(
            name="OrderAmendment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField(verbose_name="when")),
                ("actor_label", models.CharField(blank=True, max_length=150, verbose_name="who")),
                (
                    "source",
                    models.CharField(
                        choices=[
                            ("call_center", "Call center"),
                            ("hotline", "Hotline"),
                            ("courier", "Courier"),
                            ("staff", "Staff"),
                        ],
                        max_length=16,
                        verbose_name="source",
                    ),
                ),
                ("reason", models.TextField(verbose_name="reason")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("to_send", "To send"),
                            ("sent", "Sent"),
                            ("awaiting_stock", "Waiting for stock"),
                            ("awaiting_receipt", "Awaiting city receipt"),
                            ("calling", "Calling"),
                            ("delivery_agreed", "Delivery agreed"),
                            ("in_registry", "In the registry"),
                            ("with_courier", "With the courier"),
                            ("post_shipped", "Shipped by post"),
                            ("paid", "Paid"),
                            ("refused", "Refused"),
                            ("returned", "Returned"),
                            ("not_reached", "Customer not reached"),
                            ("cancelled", "Cancelled"),
                        ],
                        max_length=24,
                        verbose_name="status",
                    ),
                ),
                ("changes", models.JSONField(default=dict, verbose_name="changes")),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="who",
                    ),
                ),
                (
                    "order",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="amendments",
                        to="orders.order",
                    ),
                ),
                (
                    "partner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="core.partner"
                    ),
                ),
            ],
            options={
                "verbose_name": "order change",
                "verbose_name_plural": "order changes",
                "ordering": ["order", "at", "id"],
                "indexes": [models.Index(fields=["order", "at"], name="order_amendment_order_at")],
            },
        ),
        migrations.RunSQL(SEQUENCE, migrations.RunSQL.noop),
        migrations.RunSQL(GUARD, UNGUARD),
    ]
