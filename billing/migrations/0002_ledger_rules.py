"""The ledger's rules, kept by the database itself:

* postings and entries are never updated or deleted (a posting may only be sealed once: its digest set
  from empty); an entry cannot be added to a sealed posting;
* sealing sets the digest of the posting's entries, computed by the database whatever value is asked for;
  after it no entry can be added, and none can ever change;
* at commit, every new posting must be sealed, have at least two entries, sum to zero per currency, and have
  each entry in its account's and posting's currency and partner.

`billing_posting_digest(id)` is the one definition of the digest (sha256 over the entries in a fixed
order); `check_ledger` recomputes it to find an entry changed behind the database's back.
"""

from django.db import migrations

SQL = r"""
CREATE OR REPLACE FUNCTION billing_posting_digest(pid bigint) RETURNS text AS $$
    SELECT encode(sha256(convert_to(coalesce(string_agg(
        e.account_id::text || ':' || e.amount::text || ':' || e.currency || ':' ||
        coalesce(e.partner_id::text, '') || ':' || coalesce(e.order_id::text, '') || ':' ||
        coalesce(e.charge_id::text, '') || ':' || coalesce(e.city_id::text, '') || ':' || e.kind,
        ',' ORDER BY e.account_id, e.order_id NULLS FIRST, e.charge_id NULLS FIRST, e.amount, e.kind, e.city_id
    ), ''), 'UTF8')), 'hex')
    FROM billing_entry e WHERE e.posting_id = pid
$$ LANGUAGE sql STABLE;

CREATE OR REPLACE FUNCTION billing_posting_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.digest = '' AND NEW.digest <> ''
       AND (to_jsonb(NEW) - 'digest') = (to_jsonb(OLD) - 'digest') THEN
        NEW.digest := billing_posting_digest(NEW.id);  -- sealing, once; the seal is always the database's own
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'billing_posting is immutable: post a reversal instead' USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER billing_posting_immutable BEFORE UPDATE OR DELETE ON billing_posting
    FOR EACH ROW EXECUTE FUNCTION billing_posting_guard();

-- Statement-level, so a run posting 150 000 entries pays for one check, not one per row.
CREATE OR REPLACE FUNCTION billing_entry_guard() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'billing_entry is immutable: post a reversal instead' USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER billing_entry_immutable BEFORE UPDATE OR DELETE ON billing_entry
    FOR EACH STATEMENT EXECUTE FUNCTION billing_entry_guard();

CREATE OR REPLACE FUNCTION billing_entry_sealed_guard() RETURNS trigger AS $$
DECLARE
    sealed bigint;
BEGIN
    SELECT p.id INTO sealed FROM new_entries n JOIN billing_posting p ON p.id = n.posting_id
    WHERE p.digest <> '' LIMIT 1;
    IF sealed IS NOT NULL THEN
        RAISE EXCEPTION 'posting % is sealed: entries cannot be added to it', sealed
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER billing_entry_sealed AFTER INSERT ON billing_entry
    REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION billing_entry_sealed_guard();

CREATE OR REPLACE FUNCTION billing_posting_check() RETURNS trigger AS $$
DECLARE
    stored text;
    entries integer;
BEGIN
    SELECT digest INTO stored FROM billing_posting WHERE id = NEW.id;
    IF stored IS NULL OR stored = '' THEN
        RAISE EXCEPTION 'posting % is not sealed', NEW.id USING ERRCODE = 'check_violation';
    END IF;
    SELECT count(*) INTO entries FROM billing_entry WHERE posting_id = NEW.id;
    IF entries < 2 THEN
        RAISE EXCEPTION 'posting % has fewer than two entries', NEW.id USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM billing_entry WHERE posting_id = NEW.id GROUP BY currency HAVING sum(amount) <> 0) THEN
        RAISE EXCEPTION 'posting % does not balance', NEW.id USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM billing_entry e JOIN billing_account a ON a.id = e.account_id
               WHERE e.posting_id = NEW.id AND (e.currency <> a.currency OR e.currency <> NEW.currency
                     OR (a.partner_id IS NOT NULL AND a.partner_id IS DISTINCT FROM e.partner_id))) THEN
        RAISE EXCEPTION 'posting % has an entry outside its account''s currency or partner', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER billing_posting_balanced AFTER INSERT ON billing_posting
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION billing_posting_check();
"""

REVERSE = """
DROP TRIGGER IF EXISTS billing_posting_balanced ON billing_posting;
DROP TRIGGER IF EXISTS billing_entry_sealed ON billing_entry;
DROP TRIGGER IF EXISTS billing_entry_immutable ON billing_entry;
DROP TRIGGER IF EXISTS billing_posting_immutable ON billing_posting;
DROP FUNCTION IF EXISTS billing_posting_check();
DROP FUNCTION IF EXISTS billing_entry_sealed_guard();
DROP FUNCTION IF EXISTS billing_entry_guard();
DROP FUNCTION IF EXISTS billing_posting_guard();
DROP FUNCTION IF EXISTS billing_posting_digest(bigint);
"""


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
