"""The logists' queue hands out only customers whose working hours it is, in the customer's own zone: the calling
state carries its order's country, copied by the trigger of migration 0002 like the rest of what the ranking
needs (an order's country never changes after intake), and a second partial index ranks one country's states for
the hours when only one country is at work.

At volume: the states written before this migration are rewritten once to take their country, as in 0002
(≈ 30 s for a million states on our 2-core machine); a state that has its country already (written by this
trigger, or restored with it) is left alone, so running the backfill again rewrites nothing. From here on the
trigger gives every state written its order's country; only a state loaded before its order (a data-only restore)
keeps the country it was written with, as it keeps the other copied values."""

from django.db import migrations, models

FORWARDS = """
CREATE OR REPLACE FUNCTION callcenter_call_state_from_order() RETURNS trigger AS $$
DECLARE
    copied record;
BEGIN
    SELECT o.status = 'calling' AND NOT o.is_test AS is_calling, o.delivery_kind = 'same_day' AS is_same_day,
           o.created_at AS order_created_at, o.country AS country
      INTO copied
      FROM orders_order o WHERE o.id = NEW.order_id;
    -- No order yet: its row comes later in this transaction (foreign keys are deferred), as in a data-only
    -- pg_restore, which loads this table before the orders; the values written stand (a restore writes the
    -- copied ones).
    IF FOUND THEN
        NEW.is_calling := copied.is_calling;
        NEW.is_same_day := copied.is_same_day;
        NEW.order_created_at := copied.order_created_at;
        NEW.country := copied.country;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

-- only the states that have no country yet (any write makes the trigger copy the order again)
UPDATE callcenter_callstate SET is_calling = is_calling WHERE country = '';
SET CONSTRAINTS ALL IMMEDIATE;
"""

BACKWARDS = """
CREATE OR REPLACE FUNCTION callcenter_call_state_from_order() RETURNS trigger AS $$
DECLARE
    copied record;
BEGIN
    SELECT o.status = 'calling' AND NOT o.is_test AS is_calling, o.delivery_kind = 'same_day' AS is_same_day,
           o.created_at AS order_created_at
      INTO copied
      FROM orders_order o WHERE o.id = NEW.order_id;
    IF FOUND THEN
        NEW.is_calling := copied.is_calling;
        NEW.is_same_day := copied.is_same_day;
        NEW.order_created_at := copied.order_created_at;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("callcenter", "0003_one_sequence_with_the_status_history"),
    ]

    operations = [
        migrations.AddField(
            model_name="callstate",
            name="country",
            field=models.CharField(blank=True, default="", editable=False, max_length=2),
        ),
        migrations.RunSQL(FORWARDS, BACKWARDS),
        migrations.AddIndex(
            model_name="callstate",
            index=models.Index(
                condition=models.Q(("is_calling", True)),
                fields=["country", "priority", "next_call_at", "order_created_at", "id"],
                name="call_state_queue_country",
            ),
        ),
        migrations.RunSQL("ANALYZE callcenter_callstate;", migrations.RunSQL.noop),
    ]
