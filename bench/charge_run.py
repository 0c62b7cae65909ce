"""The weekly charge run over a week of 100 000 orders (run by `bench.run` in a copy of the bench database).

Adds 100 000 orders worked in the last closed week (whose run the generator left as a draft), then times
`run_compute` three times, each in a transaction rolled back afterwards, and the approval once (in the third); beside
them, a bare SQL aggregate of the same totals. Before each attempt the billing tables are vacuumed (`settle`), so each
meets them as a run does in production. Prints one JSON object.
"""

import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketlogistic.settings.bench")
django.setup()

from django.db import connection, transaction  # noqa: E402

from bench.load import median  # noqa: E402
from billing import runs  # noqa: E402
from billing.models import BillingRun, Charge, Entry, Posting  # noqa: E402
from setup.volume import generate  # noqa: E402

BARE = """
WITH fees AS (
    SELECT o.partner_id, count(*) * CASE o.country WHEN 'KZ' THEN 2500 ELSE 440 END AS total
    FROM orders_order o
    WHERE o.work_started_at < %(end)s AND NOT o.is_test
      AND NOT EXISTS (SELECT 1 FROM billing_charge c WHERE c.order_id = o.id AND c.kind = 'order_fee')
    GROUP BY o.partner_id, o.country
), commissions AS (
    SELECT c.partner_id, sum(round(c.amount * CASE WHEN c.currency = 'KGS' THEN 3
                                               WHEN c.channel = 'post' THEN 9 ELSE 6 END / 100, 2)) AS total
    FROM delivery_collection c
    WHERE c.kind = 'cod' AND c.collected_at < %(end)s
      AND NOT EXISTS (SELECT 1 FROM billing_charge x WHERE x.order_id = c.order_id AND x.kind LIKE 'cod_%%')
    GROUP BY c.partner_id
)
SELECT coalesce(f.partner_id, m.partner_id), coalesce(f.total, 0) + coalesce(m.total, 0)
FROM fees f FULL JOIN commissions m ON m.partner_id = f.partner_id
"""


def settle() -> None:
    """Each attempt on the tables as the run finds them in production: without the rows of the attempts rolled back
    before it (their dead index entries would be probed by every anti-join and unique check of the next attempt) and
    with the visibility map autovacuum keeps."""
    with connection.cursor() as cursor:
        for table in (Charge, Entry, Posting):
            cursor.execute(f"VACUUM {table._meta.db_table}")


def main() -> None:
    orders = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    week = runs.last_closed_week()
    _start, end = runs.week_bounds(week)
    generate(orders=orders, weeks=1, end=end, runs=False)
    run = BillingRun.objects.get(week_start=week)
    computed, approved, added = [], None, 0
    for attempt in range(3):
        settle()
        with transaction.atomic():
            started = time.perf_counter()
            added = runs.run_compute(run=run)
            computed.append(time.perf_counter() - started)
            if attempt == 2:
                started = time.perf_counter()
                runs.run_approve(run=BillingRun.objects.get(pk=run.pk), actor=None)
                approved = time.perf_counter() - started
            transaction.set_rollback(True)
    bare = []
    settle()
    for _attempt in range(3):
        with connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(BARE, {"end": end})
            cursor.fetchall()
            bare.append(time.perf_counter() - started)
    print(
        json.dumps(
            {
                "orders_in_week": orders,
                "charges_added": added,
                "compute_s": [round(v, 3) for v in computed],
                "compute_median_s": round(median(computed), 3),
                "approve_s": round(approved, 3),
                "bare_aggregate_s": [round(v, 3) for v in bare],
                "bare_median_s": round(median(bare), 3),
                "charges_before": Charge.objects.count(),
            }
        )
    )


if __name__ == "__main__":
    main()
