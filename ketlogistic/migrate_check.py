"""Migrate a database made by an older revision forward and prove that no row was lost (`make migrate-check`).

    python -m ketlogistic.migrate_check --base 13d6dd7            # BASE → this working tree
    python -m ketlogistic.migrate_check --base v1.2 --target HEAD  # BASE → another revision

1. The BASE revision is unpacked (`git archive`) into a temporary folder. A fresh database on the server of
   `DATABASE_URL` (`<its name>_mc<pid>`) is migrated and filled with BASE's own code: `load_reference_data`,
   `seed_demo` and a small `generate_volume`; then one admin log entry per content type and one audit entry per
   model label, so that every model is referenced by rows that must still point at it afterwards. BASE's
   `check_ledger` and `check_stock_ledger` must pass on that data.
2. Every table (all schemas but PostgreSQL's own) is counted exactly, with a digest of its primary keys; the
   content types, the rows that reference each of them (every foreign key to `django_content_type`) and the rows
   of each model-label column (`core_auditentry.object_type`) are recorded.
3. The target's `manage.py migrate` runs on that database, everything is recorded again and compared: no table
   may disappear (unless renamed with `--rename`), every table keeps its count and its primary keys (Django's
   bookkeeping tables may only grow), a content type of a model keeps its id and names a model of the target
   (a model moved to another app: the same id under the new app label, none left stale), the rows referencing a
   content type keep pointing at it, a model label stored in a column follows its model. Then the target's
   `check_ledger`, `check_stock_ledger`, `migrate --check` and `makemigrations --check` must pass.
4. A report is printed; the exit code is 1 on any difference. The database and the folder are removed at the
   end, also on failure (`--keep` keeps them for a look).

Each tree runs with its own code: the current interpreter (the project's venv) with the tree as working
directory and first on PYTHONPATH, which wins over the venv's editable install (checked: every top-level package
of the tree must import from the tree). Celery messages go to an in-memory broker, so no worker anywhere runs
the demo data's tasks. BASE must run on the installed packages; a BASE that needs other versions cannot be
checked this way.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASE = "13d6dd7"  # the commit before issue 16's restructure; the Makefile's BASE says the same
DEFAULT_SETTINGS = "ketlogistic.settings.local"
DEFAULT_FILL = [
    "load_reference_data",
    "seed_demo",
    "generate_volume --orders 2000 --partners 3 --weeks 4 --products 5",
]
# tables that migrate itself writes to: they may gain rows (new migrations, models, permissions), never lose any; and
# tables a data migration adds rows to on purpose: callcenter_script gains the sample script (seed 001 moved out of the
# company's default, callcenter 0009) and its sections, our own filling the default's gaps
MAY_GROW = [
    "django_migrations",
    "django_content_type",
    "auth_permission",
    "callcenter_script",
    "callcenter_scriptsection",
]
# columns that hold a model's label ("app_label.ModelName") as text
DEFAULT_LABEL_COLUMNS = ["core.AuditEntry.object_type"]
LEDGER_CHECKS = ["check_ledger", "check_stock_ledger"]
STEP_TIMEOUT = 900


def say(message: str) -> None:
    print(f"[migrate-check] {message}", flush=True)


# ---------------------------------------------------------------------------------------------- the two trees


PROBE = r"""
import importlib.util, json, os, sys
from pathlib import Path
import django
django.setup()
from django.apps import apps
from django.core.management import get_commands

root = Path(sys.argv[1]).resolve()
wrong = []
for child in sorted(root.iterdir()):
    if (child / "__init__.py").is_file():
        spec = importlib.util.find_spec(child.name)
        origin = Path(spec.origin).resolve() if spec and spec.origin else None
        if origin is None or root not in origin.parents:
            wrong.append(f"{child.name} -> {origin}")
labels = {}
for item in json.loads(sys.argv[2]):
    app_model, _, field_name = item.rpartition(".")
    try:
        column = apps.get_model(app_model)._meta.get_field(field_name)
    except LookupError:
        continue
    labels[item] = [column.model._meta.db_table, column.column]
print(json.dumps({
    "models": [
        [m._meta.app_label, m._meta.model_name, m._meta.label, m._meta.db_table] for m in apps.get_models()
    ],
    "commands": sorted(get_commands()),
    "label_columns": labels,
    "wrong_imports": wrong,
}))
"""

# One admin log entry per content type and one audit entry per model label: rows that must follow their model.
REFERENCES = r"""
import json, sys
import django
django.setup()
from django.apps import apps
from django.contrib.auth import get_user_model
made = {}
user = get_user_model().objects.order_by("pk").first()
if apps.is_installed("django.contrib.admin") and apps.is_installed("django.contrib.contenttypes") and user:
    from django.contrib.admin.models import ADDITION, LogEntry
    from django.contrib.contenttypes.models import ContentType
    rows = [
        LogEntry(user=user, content_type=ct, object_id="0", object_repr=f"migrate-check {ct.app_label}.{ct.model}",
                 action_flag=ADDITION, change_message="")
        for ct in ContentType.objects.order_by("pk")
    ]
    made["admin log entries"] = len(LogEntry.objects.bulk_create(rows))
for item in json.loads(sys.argv[1]):
    app_model, _, field_name = item.rpartition(".")
    try:
        model = apps.get_model(app_model)
        model._meta.get_field(field_name)
    except LookupError:
        continue
    rows = []
    for target in apps.get_models():
        row = model(**{field_name: target._meta.label})
        for f in model._meta.concrete_fields:  # fill the other required text fields
            if f.name != field_name and not f.null and not f.has_default() and f.get_internal_type() in (
                "CharField", "TextField"
            ):
                setattr(row, f.attname, "migrate-check")
        rows.append(row)
    made[item] = len(model.objects.bulk_create(rows))
print(json.dumps(made))
"""


@dataclass
class Tree:
    name: str
    path: Path
    env: dict[str, str]
    log: Path
    python: str = sys.executable
    probe: dict = field(default_factory=dict)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        started = time.perf_counter()
        proc = subprocess.run(
            [self.python, *args],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
        )
        with self.log.open("a", encoding="utf-8") as log:
            log.write(f"\n$ ({self.name}) python {shlex.join(args)}  → exit {proc.returncode}\n")
            log.write(proc.stdout)
            log.write(proc.stderr)
        shown = " ".join(args[:3]) if args[0] != "-c" else "python -c (probe)"
        say(f"  {self.name}: {shown} — exit {proc.returncode}, {time.perf_counter() - started:.1f} s")
        if check and proc.returncode != 0:
            raise StepFailed(f"{self.name}: `{shlex.join(args[:4])}` exited {proc.returncode}", proc)
        return proc

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("manage.py", *args, check=check)

    def inspect(self, label_columns: list[str]) -> dict:
        proc = self.run("-c", PROBE, str(self.path), json.dumps(label_columns))
        self.probe = json.loads(proc.stdout.strip().splitlines()[-1])
        if self.probe["wrong_imports"]:
            raise StepFailed(
                f"{self.name}: packages imported from outside {self.path}: {', '.join(self.probe['wrong_imports'])}"
            )
        return self.probe

    def has_command(self, command: str) -> bool:
        return command in self.probe.get("commands", [])


class StepFailed(Exception):
    def __init__(self, message: str, proc: subprocess.CompletedProcess | None = None) -> None:
        super().__init__(message)
        self.proc = proc

    def details(self) -> str:
        if self.proc is None:
            return ""
        text = (self.proc.stdout + self.proc.stderr).strip().splitlines()
        return "\n".join("    " + line for line in text[-30:])


def unpack(revision: str, into: Path) -> str:
    """`git archive` of a revision into a folder; returns the full commit id."""
    commit = git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    into.mkdir(parents=True)
    archive = subprocess.Popen(["git", "archive", commit], cwd=ROOT, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0:
        raise StepFailed(f"git archive {commit} failed")
    return commit


def git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise StepFailed(f"git {' '.join(args)}: {proc.stderr.strip() or 'failed'}")
    return proc.stdout.strip()


def revision_available(revision: str) -> bool:
    """False in a shallow clone (or a copy without git) that lacks the revision's history."""
    try:
        git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    except (StepFailed, FileNotFoundError):
        return False
    return True


# ---------------------------------------------------------------------------------------------- the database


def server_url(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme.replace("postgis", "postgres"), parts.netloc, "/" + database, parts.query, "")
    )


def libpq_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))


def snapshot(url: str, label_columns: dict[str, list[str]]) -> dict:
    """Exact row counts and primary-key digests of every table, the content types, the rows referencing each
    content type, and the rows of each label column by value."""
    import psycopg
    from psycopg import sql

    result: dict = {"tables": {}, "content_types": {}, "ct_refs": {}, "labels": {}}
    with psycopg.connect(libpq_url(url)) as conn:
        tables = conn.execute(
            """SELECT n.nspname, c.relname, c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                 AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
               ORDER BY 1, 2"""
        ).fetchall()
        keys = dict(
            conn.execute(
                """SELECT i.indrelid, a.attname FROM pg_index i
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                   WHERE i.indisprimary AND i.indnatts = 1"""
            ).fetchall()
        )
        for schema, table, oid in tables:
            name = table if schema == "public" else f"{schema}.{table}"
            ident = sql.Identifier(schema, table)
            key = keys.get(oid)
            if key is None:
                count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone()[0]
                digest = None
            else:
                count, digest = conn.execute(
                    sql.SQL(
                        "SELECT count(*), md5(coalesce(string_agg({k}::text, ',' ORDER BY {k}), '')) FROM {t}"
                    ).format(k=sql.Identifier(key), t=ident)
                ).fetchone()
            result["tables"][name] = {"count": count, "pk_digest": digest}
        if "django_content_type" in result["tables"]:
            for ct_id, app_label, model in conn.execute(
                "SELECT id, app_label, model FROM django_content_type"
            ):
                result["content_types"][ct_id] = [app_label, model]
            references = conn.execute(
                """SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c
                   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
                   WHERE c.contype = 'f' AND c.confrelid = 'django_content_type'::regclass
                     AND array_length(c.conkey, 1) = 1 ORDER BY 1, 2"""
            ).fetchall()
            for table, column in references:
                rows = conn.execute(
                    sql.SQL("SELECT {c}, count(*) FROM {t} WHERE {c} IS NOT NULL GROUP BY 1").format(
                        c=sql.Identifier(column),
                        t=sql.SQL(table),  # regclass text: already quoted
                    )
                ).fetchall()
                result["ct_refs"][f"{table}.{column}"] = dict(rows)
        for table, column in label_columns.values():
            rows = conn.execute(
                sql.SQL("SELECT {c}, count(*) FROM {t} GROUP BY 1").format(
                    c=sql.Identifier(column), t=sql.Identifier(table)
                )
            ).fetchall()
            result["labels"][f"{table}.{column}"] = dict(rows)
    return result


# ---------------------------------------------------------------------------------------------- the comparison


@dataclass
class Models:
    """The models of one tree, from its probe: [app_label, model_name, label, db_table] each."""

    rows: list[list[str]]

    @property
    def keys(self) -> set[tuple[str, str]]:
        return {(app, model) for app, model, _label, _table in self.rows}

    @property
    def labels(self) -> dict[str, tuple[str, str]]:
        return {label: (app, model) for app, model, label, _table in self.rows}

    def label_of(self, app: str, model: str) -> str | None:
        for a, m, label, _table in self.rows:
            if (a, m) == (app, model):
                return label
        return None


@dataclass
class Comparison:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    table_lines: list[str] = field(default_factory=list)


def compare(
    before: dict,
    after: dict,
    models_before: Models,
    models_after: Models,
    *,
    renames: dict[str, str] | None = None,
    may_grow: list[str] | tuple[str, ...] = tuple(MAY_GROW),
) -> Comparison:
    """Everything that differs between the snapshots taken before and after migrating, as problems (a lost or
    added row, a content type that no longer names its model, a reference that moved) and notes (new tables,
    moved models)."""
    renames = renames or {}
    result = Comparison()
    problems, notes = result.problems, result.notes

    # 1. tables: none lost, every count and set of primary keys unchanged
    after_tables = dict(after["tables"])
    for table, old in sorted(before["tables"].items()):
        new_name = renames.get(table, table)
        new = after_tables.pop(new_name, None)
        shown = table if new_name == table else f"{table} → {new_name}"
        if new is None:
            problems.append(f"table {shown} disappeared ({old['count']} rows)")
            result.table_lines.append(f"  {shown:<44} {old['count']:>9} {'—':>9}  MISSING")
            continue
        status = "ok"
        if table in may_grow:
            if new["count"] < old["count"]:
                status = "LOST ROWS"
                problems.append(f"table {shown}: {old['count']} rows before, {new['count']} after")
            elif new["count"] > old["count"]:
                status = f"+{new['count'] - old['count']} (may grow)"
        elif new["count"] != old["count"]:
            status = "LOST ROWS" if new["count"] < old["count"] else "ROWS ADDED"
            problems.append(f"table {shown}: {old['count']} rows before, {new['count']} after")
        elif old["pk_digest"] and new["pk_digest"] and old["pk_digest"] != new["pk_digest"]:
            status = "OTHER ROWS"
            problems.append(f"table {shown}: the same {old['count']} rows by count, but other primary keys")
        result.table_lines.append(f"  {shown:<44} {old['count']:>9} {new['count']:>9}  {status}")
    for table, new in sorted(after_tables.items()):
        notes.append(f"new table {table} ({new['count']} rows)")
        result.table_lines.append(f"  {table:<44} {'—':>9} {new['count']:>9}  new")

    # 2. content types: each one of a model keeps its id and names a model of the target
    cts_before = {int(k): tuple(v) for k, v in before["content_types"].items()}
    cts_after = {int(k): tuple(v) for k, v in after["content_types"].items()}
    live_before, live_after = models_before.keys, models_after.keys
    for ct_id, old in sorted(cts_before.items()):
        new = cts_after.get(ct_id)
        if new is None:
            problems.append(f"content type {ct_id} ({'.'.join(old)}) was deleted")
            continue
        if old not in live_before:
            if new != old:
                notes.append(f"content type {ct_id} of no model ({'.'.join(old)}) is now {'.'.join(new)}")
            continue
        if new not in live_after:
            instead = [
                f"{'.'.join(v)} (id {k})"
                for k, v in cts_after.items()
                if k not in cts_before and v[1] == old[1]
            ]
            problems.append(
                f"content type {ct_id} ({'.'.join(old)}) now names no model: {'.'.join(new)}"
                + (f"; a new content type was made instead: {', '.join(instead)}" if instead else "")
            )
        elif new != old:
            notes.append(f"content type {ct_id}: {'.'.join(old)} → {'.'.join(new)} (same id)")
    for ct_id, new in sorted(cts_after.items()):
        if ct_id not in cts_before and new not in live_after:
            problems.append(f"content type {ct_id} ({'.'.join(new)}) was made for no model")

    # 3. rows referencing a content type keep referencing the same id
    for column, old_counts in sorted(before["ct_refs"].items()):
        new_counts = {int(k): v for k, v in after["ct_refs"].get(column, {}).items()}
        if column not in after["ct_refs"]:
            problems.append(f"{column}: the reference to django_content_type is gone")
            continue
        for ct_id, count in sorted((int(k), v) for k, v in old_counts.items()):
            if new_counts.get(ct_id, 0) != count:
                name = ".".join(cts_before.get(ct_id, ("?", "?")))
                problems.append(
                    f"{column}: {count} rows referenced content type {ct_id} ({name}), now {new_counts.get(ct_id, 0)}"
                )

    # 4. a model label kept in a column follows its model (to its new app)
    labels_before = models_before.labels
    for column, old_counts in sorted(before["labels"].items()):
        if column not in after["labels"]:
            problems.append(f"{column}: the label column is gone")
            continue
        expected: dict[str, int] = {}
        moved: dict[str, str] = {}
        for value, count in old_counts.items():
            target = value
            if value in labels_before:
                app, model = labels_before[value]
                ct_id = next((k for k, v in cts_before.items() if v == (app, model)), None)
                app2, model2 = cts_after.get(ct_id, (app, model)) if ct_id is not None else (app, model)
                target = models_after.label_of(app2, model2) or value
                if target != value:
                    moved[value] = target
            expected[target] = expected.get(target, 0) + count
        actual = after["labels"][column]
        for value in sorted(set(expected) | set(actual), key=str):
            if expected.get(value, 0) != actual.get(value, 0):
                hint = ""
                if value in old_counts and value in labels_before and value not in models_after.labels:
                    hint = f" ({value} names no model now; expected {moved.get(value, '?')})"
                problems.append(
                    f"{column}: {actual.get(value, 0)} rows say {value!r}, expected {expected.get(value, 0)}{hint}"
                )
        for old, new in sorted(moved.items()):
            notes.append(f"{column}: {old} → {new}")
    return result


# ---------------------------------------------------------------------------------------------- the run


def environment(url: str, tree: Path, settings_dir: Path, scratch: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"PYTHONPATH", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "PYTEST_XDIST_WORKER"}
    }
    env.update(
        DATABASE_URL=url,
        PYTHONPATH=os.pathsep.join([str(tree), str(settings_dir)]),
        DJANGO_SETTINGS_MODULE="migrate_check_settings",
        MEDIA_ROOT=str(scratch / "media"),
        CACHE_KEY_PREFIX=f"migrate-check-{os.getpid()}",
        CELERY_BEAT_SCHEDULE_FILENAME=str(scratch / "celerybeat-schedule"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def check(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    timings: list[tuple[str, float]] = []

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings.append((name, now - since))
        return now

    source_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ketlogistic")
    database = f"{urlsplit(source_url).path.lstrip('/') or 'ketlogistic'}_mc{os.getpid()}"[:63]
    url = server_url(source_url, database)
    admin = libpq_url(server_url(source_url, "postgres"))
    label_items = [item for item in args.label_columns.split(",") if item]
    renames = dict(item.split("=", 1) for item in args.rename)
    scratch = Path(tempfile.mkdtemp(prefix="migrate-check-"))
    settings_dir = scratch / "settings"
    settings_dir.mkdir()
    (settings_dir / "migrate_check_settings.py").write_text(
        f"from {args.settings} import *  # noqa: F403\n"
        "# the demo data's tasks go nowhere: no worker of another database may run them\n"
        'CELERY_BROKER_URL = "memory://"\n',
        encoding="utf-8",
    )
    # The venv's editable install of this project puts a finder on `sys.meta_path` that maps every package of the
    # working tree. PYTHONPATH wins for what a tree has, but a module only the newer tree has (an app's new
    # `templatetags` package) would still be found there by the finder, and an older tree would load the newer
    # code. Each tree imports only from itself: the finder is taken out at interpreter start.
    (settings_dir / "sitecustomize.py").write_text(
        "import sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, '__module__', '').startswith('__editable__')]\n",
        encoding="utf-8",
    )
    log = scratch / "steps.log"
    created = False
    problems: list[str] = []
    import psycopg

    try:
        base_commit = unpack(args.base, scratch / "base")
        base = Tree("BASE", scratch / "base", environment(url, scratch / "base", settings_dir, scratch), log)
        if args.target:
            target_commit = unpack(args.target, scratch / "target")
            target_path = scratch / "target"
        else:
            target_commit = git("rev-parse", "HEAD") + (
                " + working tree changes" if git("status", "--porcelain") else ""
            )
            target_path = ROOT
        target = Tree("TARGET", target_path, environment(url, target_path, settings_dir, scratch), log)
        say(f"BASE {args.base} = {base_commit}")
        say(f"TARGET {args.target or 'this working tree'} = {target_commit} ({target_path})")
        say(f"database {database}; logs in {log}")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{database}"')
        created = True
        t = lap("unpack, create database", started)

        say("BASE: migrate and fill")
        base.inspect(label_items)
        if base.has_command("compile_translations"):
            base.manage("compile_translations")
        base.manage("migrate", "--noinput")
        for step in args.fill or DEFAULT_FILL:
            words = shlex.split(step)
            if not base.has_command(words[0]):
                say(f"  BASE has no command {words[0]}: skipped")
                continue
            base.manage(*words)
        made = json.loads(base.run("-c", REFERENCES, json.dumps(label_items)).stdout.strip().splitlines()[-1])
        say(f"  references to every model: {made}")
        for command in LEDGER_CHECKS:
            if base.has_command(command):
                base.manage(command)  # BASE's data must be consistent, or the check after proves nothing
        t = lap("BASE migrate + fill", t)

        before = snapshot(url, base.probe["label_columns"])
        rows = sum(v["count"] for v in before["tables"].values())
        say(
            f"before: {len(before['tables'])} tables, {rows} rows, {len(before['content_types'])} content types"
        )
        t = lap("count before", t)

        say("TARGET: migrate")
        target.inspect(label_items)
        target.manage("migrate", "--noinput")
        t = lap("TARGET migrate", t)
        after = snapshot(url, target.probe["label_columns"])
        t = lap("count after", t)
        result = compare(
            before, after, Models(base.probe["models"]), Models(target.probe["models"]), renames=renames
        )
        problems += result.problems

        say("TARGET: checks")
        for words in (
            *([command] for command in LEDGER_CHECKS),
            ["migrate", "--check", "--noinput"],
            ["makemigrations", "--check", "--dry-run", "--noinput"],
        ):
            if not target.has_command(words[0]):
                problems.append(f"TARGET has no command {words[0]}")
                continue
            proc = target.manage(*words, check=False)
            if proc.returncode != 0:
                tail = (proc.stdout + proc.stderr).strip().splitlines()[-10:]
                problems.append(
                    f"`manage.py {' '.join(words)}` exited {proc.returncode}: " + " | ".join(tail)
                )
        t = lap("TARGET checks", t)

        print()
        print(f"Tables ({len(before['tables'])} before, {len(after['tables'])} after):")
        print(f"  {'table':<44} {'before':>9} {'after':>9}")
        for line in (
            result.table_lines if args.verbose else [x for x in result.table_lines if not x.endswith(" ok")]
        ):
            print(line)
        unchanged = sum(1 for x in result.table_lines if x.endswith(" ok"))
        print(f"  … and {unchanged} tables with the same rows" if not args.verbose else "")
        refs = sum(sum(v.values()) for v in before["ct_refs"].values())
        labelled = sum(sum(v.values()) for v in before["labels"].values())
        print(
            f"Content types: {len(before['content_types'])} before, {len(after['content_types'])} after; "
            f"{refs} rows reference them ({', '.join(before['ct_refs']) or 'no column'}); "
            f"{labelled} rows hold model labels ({', '.join(before['labels']) or 'no column'})"
        )
        for note in result.notes:
            print(f"  note: {note}")
    except StepFailed as failure:
        problems.append(str(failure))
        details = failure.details()
        if details:
            print(details)
    except subprocess.TimeoutExpired as failure:
        problems.append(f"a step took longer than {STEP_TIMEOUT} s: {failure.cmd}")
    finally:
        if args.keep:
            say(f"kept: database {database}, folder {scratch}")
        else:
            if created:
                with contextlib.suppress(psycopg.Error), psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            shutil.rmtree(scratch, ignore_errors=True)
    print()
    print("Timings: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings))
    print(f"Total: {time.perf_counter() - started:.0f} s")
    if problems:
        print(f"MIGRATE CHECK FAILED: {len(problems)} problem(s)")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(
        "MIGRATE CHECK PASSED: every row kept, content types and references follow their models, ledgers consistent"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="migrate_check", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", default=DEFAULT_BASE, help=f"the older revision (default {DEFAULT_BASE})")
    parser.add_argument(
        "--target", help="a revision to migrate to (default: this working tree, uncommitted included)"
    )
    parser.add_argument("--settings", default=DEFAULT_SETTINGS, help="settings module both trees run with")
    parser.add_argument(
        "--fill",
        action="append",
        help="a manage.py command that fills BASE's database, repeatable (default: "
        + "; ".join(DEFAULT_FILL)
        + "); a command BASE lacks is skipped",
    )
    parser.add_argument(
        "--label-columns",
        default=",".join(DEFAULT_LABEL_COLUMNS),
        help="app.Model.field columns holding model labels, comma-separated ('' for none)",
    )
    parser.add_argument(
        "--rename", action="append", default=[], help="OLD_TABLE=NEW_TABLE, a table renamed on purpose"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and the unpacked tree")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every table")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on a stop as well
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
