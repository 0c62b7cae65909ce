"""One door for changing an order after intake (`orders.amendments`).

* The partner's own figures on every order: `original_cod` and `original_goods_value` (the items at the order's
  prices). Existing orders take their current sum (no earlier change of it was recorded anywhere) and the value of
  their items.
* `OrderAmendment`: the history of every change, old → new, who, why, through which channel.
* The database guard: an order's money and data (sum, address, delivery dates, the partner's figures, and what
  never changes after intake: partner, number, country, city, currency, customer, comment) change only through
  the amendment service, which opens its door for its own UPDATE with a transaction-local setting
  (`ketlogistic.order_door = 'amendment'`). The workflow opens its own door ('workflow') for a status move, which
  alone sets or clears the agreed delivery date, in the same UPDATE as the status; the retention task's erasure
  blanks name, address and comment in the UPDATE that stamps `personal_data_erased_at`. Items are written by the
  intake (its door: 'intake'), only for orders its own transaction created, and changed or removed only by the
  amendment service.

The steps on `orders_order`, with the lock each takes (PostgreSQL 15):

1. ADD COLUMN ×2, nullable, no default — ACCESS EXCLUSIVE; the catalog only (no rewrite, no scan).
2. FILL — two set-based UPDATEs (ROW EXCLUSIVE, and each row's lock): the orders with items from one grouped pass
   over the items (a hash join, not a subquery per order), then the orders without items (an anti-join). Every
   order row gets a new version once.
3. ADD CONSTRAINT … CHECK … NOT VALID — ACCESS EXCLUSIVE, no scan: enforced on rows written from now on.
4. VALIDATE CONSTRAINT — SHARE UPDATE EXCLUSIVE (reads and writes may go on): one scan.
5. SET NOT NULL on both columns in one ALTER TABLE — ACCESS EXCLUSIVE: one scan.
6. The guard's functions and triggers — CREATE TRIGGER takes SHARE ROW EXCLUSIVE on each table.

Django runs the migration in one transaction, so every lock is held until it commits: from step 1 on, orders are
neither read nor written until the migration ends, and what matters is its time — one pass over the items, one
write of every order, two scans. Timed on a 2-core machine shared with other work, at 200 000 orders and 260 000
items, step 2 takes ≈17 s, nearly all of it writing every order's new row version and its index entries (the
grouped join reads in 0.5 s, the former subquery per order read in 0.7 s). Steps 3–5 are separate operations so
that a deployment that must keep serving orders can move 4 and 5 into a migration of their own (then step 4
blocks nobody, and step 5 is a short exclusive scan), with no other change.
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


# The partner's figures of the orders that exist: one grouped pass over the items, then the orders without any.
FILL = [
    """
UPDATE orders_order o
   SET original_cod = o.cod_amount, original_goods_value = goods.value
  FROM (SELECT order_id, sum(quantity * unit_price) AS value FROM orders_orderitem GROUP BY order_id) goods
 WHERE goods.order_id = o.id
""",
    """
UPDATE orders_order o
   SET original_cod = o.cod_amount, original_goods_value = 0
 WHERE NOT EXISTS (SELECT FROM orders_orderitem i WHERE i.order_id = o.id)
""",
]

FIGURES_CHECK = "order_original_figures_not_negative"
ADD_CHECK = (
    f"ALTER TABLE orders_order ADD CONSTRAINT {FIGURES_CHECK} "
    "CHECK (original_cod >= 0 AND original_goods_value >= 0) NOT VALID"
)
VALIDATE_CHECK = f"ALTER TABLE orders_order VALIDATE CONSTRAINT {FIGURES_CHECK}"
SET_NOT_NULL = (
    "ALTER TABLE orders_order ALTER COLUMN original_cod SET NOT NULL, "
    "ALTER COLUMN original_goods_value SET NOT NULL"
)
DROP_NOT_NULL = (
    "ALTER TABLE orders_order ALTER COLUMN original_cod DROP NOT NULL, "
    "ALTER COLUMN original_goods_value DROP NOT NULL"
)

GUARD = f"""
CREATE OR REPLACE FUNCTION orders_order_guard() RETURNS trigger AS $$
DECLARE
    door text := coalesce(current_setting('ketlogistic.order_door', true), '');
BEGIN
    IF door = 'amendment' AND {_unchanged_except(AMENDABLE)} THEN
        RETURN NEW;
    END IF;
    -- a status move of the workflow, through its door: the agreed date comes and goes with the status
    IF door = 'workflow' AND OLD.status IS DISTINCT FROM NEW.status AND {_unchanged_except(["delivery_date"])} THEN
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

-- Was a row version (its xmin) written by this very transaction, a savepoint of it included? The row is visible, so
-- its writer committed or is this transaction: PostgreSQL shows no one else's uncommitted rows, and pg_xact_status
-- says 'in progress' only for those. (xmin = txid_current() would miss the rows written inside a savepoint — every
-- nested `atomic` block of Django — which carry the subtransaction's own, later id.) The 32-bit xmin becomes a
-- 64-bit id by its signed distance from this transaction's id, as PostgreSQL compares ids; a row too old for the
-- commit log gives NULL: not this transaction's. (A frozen row older than two billion transactions may read as an
-- id to come: pg_xact_status refuses that with its own error, and the write is refused all the same.)
CREATE OR REPLACE FUNCTION orders_written_in_this_transaction(written xid) RETURNS boolean AS $$
DECLARE
    this_id bigint := pg_current_xact_id()::text::bigint;
    distance bigint := (written::text::bigint - this_id % 4294967296 + 4294967296) % 4294967296;
BEGIN
    IF distance >= 2147483648 THEN
        distance := distance - 4294967296;
    END IF;
    RETURN this_id + distance > 0
       AND coalesce(pg_xact_status((this_id + distance)::text::xid8) = 'in progress', false);
END
$$ LANGUAGE plpgsql STABLE;

-- The intake writes the items of the orders it has just created, in the same transaction: per statement, one look
-- at the orders the new items name (an order changed earlier in the same transaction passes too).
CREATE OR REPLACE FUNCTION orders_orderitem_new_orders_only() RETURNS trigger AS $$
BEGIN
    IF EXISTS (
        SELECT FROM orders_order o
         WHERE o.id IN (SELECT order_id FROM new_items)
           AND NOT orders_written_in_this_transaction(o.xmin)
    ) THEN
        RAISE EXCEPTION 'order items are written by the intake only for the orders it creates'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER orders_orderitem_new_orders_only AFTER INSERT ON orders_orderitem
    REFERENCING NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION orders_orderitem_new_orders_only();
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
DROP TRIGGER IF EXISTS orders_orderitem_new_orders_only ON orders_orderitem;
DROP FUNCTION IF EXISTS orders_orderitem_new_orders_only();
DROP FUNCTION IF EXISTS orders_written_in_this_transaction(xid);
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
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(ADD_CHECK, f"ALTER TABLE orders_order DROP CONSTRAINT {FIGURES_CHECK}")
            ],
            state_operations=[
                migrations.AddConstraint(
                    model_name="order",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("original_cod__gte", 0), ("original_goods_value__gte", 0)),
                        name=FIGURES_CHECK,
                    ),
                ),
            ],
        ),
        migrations.RunSQL(VALIDATE_CHECK, migrations.RunSQL.noop),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(SET_NOT_NULL, DROP_NOT_NULL)],
            state_operations=[
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
                    field=models.DecimalField(
                        decimal_places=2, max_digits=14, verbose_name="partner's goods value"
                    ),
                ),
            ],
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
