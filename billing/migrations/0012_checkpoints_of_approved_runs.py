"""Balance checkpoints for the ledger written before them: one per partner account at each weekly run posted to it,
up to the run posting's entry on that account (every posting to a partner's balance locked the account, so every
entry before it had committed), in the order of the account's chain: the database's trigger sums each from the one
before it (`0011_balance_checkpoints`). The entries after the last run stay after the latest checkpoint, as they
would have."""

from django.db import migrations

BACKFILL = """
INSERT INTO billing_balancecheckpoint (account_id, run_id, upto_entry, after_entry, balance, currency, first_at,
                                       last_at, created_at)
SELECT e.account_id, p.run_id, max(e.id), 0, 0, '', now(), now(), now()
FROM billing_posting p
JOIN billing_entry e ON e.posting_id = p.id
JOIN billing_account a ON a.id = e.account_id AND a.kind = 'partner'
WHERE p.kind = 'run'
GROUP BY e.account_id, p.run_id
ORDER BY e.account_id, max(e.id)
"""


class Migration(migrations.Migration):
    dependencies = [("billing", "0011_balance_checkpoints")]

    operations = [
        migrations.RunSQL(
            BACKFILL,
            # the checkpoints are only a shortcut to sums the entries hold: going back drops the table (0011)
            migrations.RunSQL.noop,
        )
    ]
