"""The queue's ranking on the calling state itself: what it needs of the order (calling or not, same-day, created)
is copied by the database, so a pull reads the first rows of one partial index instead of ranking every calling
order. The copy is kept by two triggers: the state takes the order's values whenever it is written, and an order
whose status, delivery kind, test flag or creation time changes rewrites its state.

At volume: every state is rewritten once (≈ 30 s for a million states on our 2-core machine, the table locked
meanwhile)."""

from django.db import migrations, models

FORWARDS = """
CREATE OR REPLACE FUNCTION callcenter_call_state_from_order() RETURNS trigger AS $$
DECLARE
    copied record;
BEGIN
    SELECT o.status = 'calling' AND NOT o.is_test AS is_calling, o.delivery_kind = 'same_day' AS is_same_day,
           o.created_at AS order_created_at
      INTO copied
      FROM orders_order o WHERE o.id = NEW.order_id;
    -- No order yet: its row comes later in this transaction (foreign keys are deferred), as in a data-only
    -- pg_restore, which loads this table before the orders; the values written stand (a restore writes the
    -- copied ones).
    IF FOUND THEN
        NEW.is_calling := copied.is_calling;
        NEW.is_same_day := copied.is_same_day;
        NEW.order_created_at := copied.order_created_at;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER callcenter_call_state_from_order BEFORE INSERT OR UPDATE ON callcenter_callstate
    FOR EACH ROW EXECUTE FUNCTION callcenter_call_state_from_order();

CREATE OR REPLACE FUNCTION callcenter_order_to_call_state() RETURNS trigger AS $$
BEGIN
    -- any write makes the state copy the order again (the column named is not the point; it is not a key)
    UPDATE callcenter_callstate SET is_calling = is_calling WHERE order_id = NEW.id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER callcenter_order_to_call_state
    AFTER UPDATE OF status, delivery_kind, is_test, created_at ON orders_order
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.delivery_kind IS DISTINCT FROM NEW.delivery_kind
          OR OLD.is_test IS DISTINCT FROM NEW.is_test OR OLD.created_at IS DISTINCT FROM NEW.created_at)
    EXECUTE FUNCTION callcenter_order_to_call_state();

UPDATE callcenter_callstate SET is_calling = is_calling;
-- the rows' deferred foreign-key checks now, not at commit: the index below cannot be built while they wait
SET CONSTRAINTS ALL IMMEDIATE;
"""

BACKWARDS = """
DROP TRIGGER IF EXISTS callcenter_order_to_call_state ON orders_order;
DROP FUNCTION IF EXISTS callcenter_order_to_call_state();
DROP TRIGGER IF EXISTS callcenter_call_state_from_order ON callcenter_callstate;
DROP FUNCTION IF EXISTS callcenter_call_state_from_order();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("callcenter", "0001_initial"),
        ("orders", "0007_calling_queue_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="callstate",
            name="is_calling",
            field=models.BooleanField(default=False, editable=False, help_text="The order is being called"),
        ),
        migrations.AddField(
            model_name="callstate",
            name="is_same_day",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.AddField(
            model_name="callstate",
            name="order_created_at",
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="callstate",
            name="priority",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Case(
                    models.When(is_same_day=True, then=models.Value(0)),
                    models.When(is_callback=True, then=models.Value(1)),
                    models.When(attempts=0, then=models.Value(2)),
                    default=models.Value(3),
                ),
                help_text="The queue's order: same-day orders, due call-backs, new orders, then the rest",
                output_field=models.SmallIntegerField(),
            ),
        ),
        migrations.RunSQL(FORWARDS, BACKWARDS),
        migrations.AddIndex(
            model_name="callstate",
            index=models.Index(
                condition=models.Q(("is_calling", True)),
                fields=["priority", "next_call_at", "order_created_at", "id"],
                name="call_state_queue",
            ),
        ),
        # the planner needs the new columns' statistics to pick the index from the first pull
        migrations.RunSQL("ANALYZE callcenter_callstate;", migrations.RunSQL.noop),
    ]
