"""Work on an order starts only with a call placed to the customer or the goods handed to a courier or the post
(`orders.services.order_mark_work_started`). Before, an escalation ("passed to a supervisor", even on an order still
«на отправку») and statuses staff set without a call (delivery agreed, refused, not reached) marked it too, and the
next charge run would charge those orders.

This forgets such marks on orders no run has charged yet: orders still «на отправку» (not in work, whatever was
recorded: the partner may cancel them free), and orders with no call on record — no call attempt other than an
escalation recorded without dialling (no line activity, no duration, no recording) — and no hand-over to a courier
or the post. A charged order keeps its mark: charged weeks are billing history, corrected (if at all) by the finance
director, never by rewriting the facts they were computed from. Nothing to undo: the reverse is a no-op.
"""

from django.db import migrations

FORGET_WORK_WITHOUT_WORK = """
UPDATE orders_order o SET work_started_at = NULL
WHERE o.work_started_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM billing_charge c WHERE c.order_id = o.id)
  AND (
    o.status = 'to_send'
    OR (
      NOT EXISTS (
        SELECT 1 FROM callcenter_callattempt a
        WHERE a.order_id = o.id
          AND (a.outcome <> 'escalated' OR a.line_state <> 'completed' OR a.duration_seconds > 0
               OR a.recording <> '')
      )
      AND NOT EXISTS (
        SELECT 1 FROM orders_orderhistory h
        WHERE h.order_id = o.id AND h.action IN ('hand_to_courier', 'ship_by_post')
      )
    )
  )
"""


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_ledger_rules"),
        ("callcenter", "0002_queue_rank"),
        ("orders", "0008_drop_calling_queue_index"),
    ]

    operations = [migrations.RunSQL(FORGET_WORK_WITHOUT_WORK, migrations.RunSQL.noop)]
