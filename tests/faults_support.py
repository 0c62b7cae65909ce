"""Real processes for the fault tests: a private Redis server, Celery workers and beat, a raw PostgreSQL session.

Everything here is a real process or connection that a test can break for real: `RedisServer.kill()` is a
SIGKILL of `redis-server`, `CeleryProcess.kill()` a SIGKILL of the worker, `terminate_backend` PostgreSQL's
own `pg_terminate_backend`. Waiting is always polling a condition with a deadline, never a sleep of a guess.
"""

from __future__ import annotations

import os
import queue as queue_module
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def wait_until(condition, what: str = "the condition", *, timeout: float = 60, step: float = 0.05):
    """Poll `condition()` until it returns something truthy (returned) or the deadline passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A private `redis-server` on a free port (never the shared one other tests use), killed and restarted
    on the same port."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ]
            + ["--daemonize", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        wait_until(lambda: self._answers(client), timeout=20, what=f"redis-server on port {self.port}")
        return self

    @staticmethod
    def _answers(client) -> bool:
        try:
            return client.ping()
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """The outage: SIGKILL, the way a crashed or OOM-killed Redis goes."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(port=self.port, db=db)


class FrozenRedis:
    """A Redis that has frozen: it accepts connections and reads what it is sent, and never answers (a stopped
    process whose socket the kernel still holds, a half-open connection). Not the shared Redis other tests use."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def _accept(self) -> None:
        while True:
            try:
                accepted, _address = self.listener.accept()
            except OSError:  # closed
                return
            self.connections.append(accepted)
            threading.Thread(target=self._swallow, args=(accepted,), daemon=True).start()

    @staticmethod
    def _swallow(accepted: socket.socket) -> None:
        try:
            while accepted.recv(65536):
                pass
        except OSError:
            pass

    def close(self) -> None:
        """Hang up on everyone (a client still waiting gets a closed connection, not a reply)."""
        self.listener.close()
        for accepted in self.connections:
            try:
                accepted.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            accepted.close()

    def __enter__(self) -> FrozenRedis:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def database_url(name: str | None = None) -> str:
    """The URL of the database this test runs on (pytest-django's test database), for child processes and
    PostgreSQL's own tools; `name` for another database on the same server."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name or db['NAME']}"


def raw_connection() -> psycopg.Connection:
    """A PostgreSQL session of its own, outside Django (to hold locks or terminate others' backends)."""
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname=db["NAME"],
    )


def backend_waiting_on_lock(
    raw: psycopg.Connection, query_fragment: str | None = None, *, relation: str | None = None
) -> dict | None:
    """The backend (pid, has it written?) stuck on a lock while running a statement containing `query_fragment`, or
    waiting for a lock on the table `relation` (whatever its statement: pg_stat_activity keeps only the first
    `track_activity_query_size` bytes of a query, 1 kB by default, and the charge run's one statement is longer)."""
    with raw.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is read once
        if relation is not None:
            cursor.execute(
                "SELECT a.pid, a.backend_xid IS NOT NULL FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()"
                " AND NOT l.granted AND l.relation = %s::regclass",
                [relation],
            )
        else:
            cursor.execute(
                "SELECT pid, backend_xid IS NOT NULL FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND wait_event_type = 'Lock' AND query LIKE %s",
                [f"%{query_fragment}%"],
            )
        row = cursor.fetchone()
    return {"pid": row[0], "has_written": row[1]} if row else None


def backend_gone(raw: psycopg.Connection, pid: int) -> bool:
    with raw.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 0


class CeleryProcess:
    """`celery worker` or `celery beat` as a child process on the test database and a given Redis; its output is
    read line by line by a thread (see tests/core/test_celery.py for why)."""

    def __init__(self, args: list[str], *, redis_url: str, env: dict | None = None):
        self.lines: list[str] = []
        self._queue: queue_module.Queue = queue_module.Queue()
        full_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "ketlogistic.settings.test",
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url,
            "CACHE_URL": "",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "ketlogistic", *args],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines[-60:])

    def count(self, fragment: str) -> int:
        return sum(fragment in line for line in list(self.lines))

    def counter(self, *fragments: str):
        """A function counting the output lines that contain every fragment."""
        return lambda: sum(all(f in line for f in fragments) for line in list(self.lines))

    def task_id(self, task_name: str) -> str:
        """The id of the task this worker received (from its "Task name[id] received" line)."""
        [line] = [line for line in list(self.lines) if f"{task_name}[" in line and "received" in line.lower()]
        return line.split(f"{task_name}[", 1)[1].split("]", 1)[0]

    def wait_for(self, fragment: str, *, times: int = 1, timeout: float = 90) -> None:
        def seen():
            if self.process.poll() is not None and self.count(fragment) < times:
                raise AssertionError(f"the process exited ({self.process.returncode}):\n{self.output()}")
            return self.count(fragment) >= times

        try:
            wait_until(seen, timeout=timeout, what=f"{fragment!r} ×{times}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- output ---\n{self.output()}") from None

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, nothing acknowledged or given back to the broker."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(20)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def worker(*, redis_url: str, name: str, env: dict | None = None) -> CeleryProcess:
    """A solo-pool worker on the default queue of `redis_url` (a private Redis: nobody else's tasks)."""
    process = CeleryProcess(
        ["worker", "--pool", "solo", "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
        + ["--without-heartbeat", "-n", f"{name}@localhost"],
        redis_url=redis_url,
        env=env,
    )
    process.wait_for("ready.")
    return process


def beat(*, redis_url: str, schedule_file: Path) -> CeleryProcess:
    return CeleryProcess(
        ["beat", "--loglevel", "INFO", "--schedule", str(schedule_file)], redis_url=redis_url
    )


@contextmanager
def broker_and_cache_at(redis_server: RedisServer | FrozenRedis):
    """This process's Celery broker and Django cache on the private Redis for the duration of a test, with the
    project's own client options (its timeouts)."""
    from django.conf import settings
    from django.core.cache import caches
    from django.test import override_settings

    from ketlogistic.celery import app

    def forget_connections():
        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        app.__dict__.get("amqp") and setattr(app.amqp, "_producer_pool", None)

    previous = app.conf.broker_url
    app.conf.broker_url = redis_server.url(0)
    forget_connections()
    try:
        with override_settings(
            CACHES={
                "default": {
                    **settings.CACHES["default"],
                    "LOCATION": redis_server.url(1),
                    "KEY_PREFIX": "faults",
                }
            }
        ):
            yield
            caches["default"].close()
    finally:
        app.conf.broker_url = previous
        forget_connections()


def unacked_tasks(redis_server: RedisServer) -> list[str]:
    """Names of the tasks a worker took and never acknowledged (kombu's `unacked` hash on the broker)."""
    import json

    client = redis_server.client(0)
    names = []
    for raw in client.hvals("unacked"):
        message = json.loads(raw)[0]
        names.append(message["headers"]["task"])
    return names


def unacked_since(redis_server: RedisServer) -> float | None:
    """When the oldest unacknowledged task was handed to a worker (kombu's `unacked_index`, a unix time)."""
    oldest = redis_server.client(0).zrange("unacked_index", 0, 0, withscores=True)
    return oldest[0][1] if oldest else None


def terminate_backend(raw: psycopg.Connection, pid: int) -> None:
    with raw.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert cursor.fetchone()[0], f"backend {pid} was not terminated"


class HoldingReceiver:
    """A webhook receiver that takes each request and answers only once `release()` is called: the sender is
    held in the middle of a delivery, after the partner has the event and before it hears back."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[dict] = []
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"headers": dict(self.headers.items()), "body": body})
                receiver.released.wait(60)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the sender is gone
                    pass

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def release(self) -> None:
        self.released.set()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release()
        self.server.shutdown()
        self.server.server_close()
