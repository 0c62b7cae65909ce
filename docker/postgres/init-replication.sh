#!/usr/bin/env bash
# The primary's side of the optional read replica (docker compose --profile replica; docs/OPERATIONS.md → «The read
# replica»). Run once by the postgres image when its volume is new: a role that may only replicate, and the pg_hba.conf
# line that lets it in from the compose network. An existing volume gets the same by hand (the commands are in
# docs/OPERATIONS.md).
set -euo pipefail

if [ -z "${POSTGRES_REPLICATION_PASSWORD:-}" ]; then
  echo "init-replication: POSTGRES_REPLICATION_PASSWORD is not set; no replication role (the replica service cannot start)"
  exit 0
fi

psql -v ON_ERROR_STOP=1 -v password="$POSTGRES_REPLICATION_PASSWORD" \
  --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
SQL

echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
echo "init-replication: role replicator created, replication allowed in pg_hba.conf"
