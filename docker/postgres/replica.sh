#!/usr/bin/env bash
# The optional read replica (docker compose --profile replica; docs/OPERATIONS.md → «The read replica»): the first time
# (an empty volume), a base backup of the primary with its own replication slot, so the primary keeps the WAL the
# replica has not received yet (at most max_slot_wal_keep_size); then a hot standby streaming from it. The app reads from
# it when DATABASE_REPLICA_URL points here, and leaves it for the primary whenever it lags or does not answer.
set -euo pipefail

PGDATA="${PGDATA:-/var/lib/postgresql/data}"
PRIMARY_HOST="${PRIMARY_HOST:-postgres}"
SLOT="${REPLICATION_SLOT:-ketlogistic_replica}"
export PGPASSWORD="${POSTGRES_REPLICATION_PASSWORD:?set POSTGRES_REPLICATION_PASSWORD in .env}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h "$PRIMARY_HOST" -p 5432 -q; do
    echo "replica: waiting for the primary at $PRIMARY_HOST"
    sleep 2
  done
  echo "replica: base backup of $PRIMARY_HOST into $PGDATA"
  find "$PGDATA" -mindepth 1 -delete
  # -C creates the slot; a volume made again finds it there already and uses it as it is
  pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" -X stream -R -c fast -C -S "$SLOT" ||
    { find "$PGDATA" -mindepth 1 -delete;
      pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" -X stream -R -c fast -S "$SLOT"; }
fi
chmod 0700 "$PGDATA"

# hot_standby_feedback: the primary keeps the rows a long report on the replica still reads (no query cancelled by
# the replay); max_standby_streaming_delay: how long replay waits for such a query before cancelling it.
exec postgres -D "$PGDATA" \
  -c hot_standby=on \
  -c hot_standby_feedback=on \
  -c max_standby_streaming_delay=30s \
  -c wal_receiver_status_interval=1s
