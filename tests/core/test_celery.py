"""A real Celery worker on the real Redis runs a task sent to it (the heartbeat beat schedules)."""

import os
import queue as queue_module
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from django.conf import settings

from ketlogistic.core.tasks import heartbeat

ROOT = Path(__file__).resolve().parents[2]


def test_beat_schedules_the_heartbeat_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["heartbeat"]

    assert entry["task"] == heartbeat.name
    assert entry["schedule"].minute == set(range(60))


def test_a_real_worker_runs_the_heartbeat():
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ketlogistic.settings.test"}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ketlogistic",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "-Q",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"{queue}@localhost",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # A thread reads the worker's output line by line: select() on the pipe plus readline() would miss
    # lines that arrive in one chunk with the previous one (they sit in Python's buffer, not in the pipe).
    lines: queue_module.Queue = queue_module.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in worker.stdout], daemon=True)
    reader.start()
    try:
        # Sent through a connection of its own, not the app's shared producer pool: CI twice found that pool closed
        # ("Acquire on closed pool") by something earlier in the same xdist worker, which this test is not about.
        # The producer declares the queue (and its binding) as the pool's would: sent before the worker has declared
        # it, a message to an undeclared queue on Redis is dropped.
        with heartbeat.app.connection_for_write() as connection:
            heartbeat.apply_async(
                queue=queue, producer=heartbeat.app.amqp.Producer(connection, auto_declare=True)
            )
        deadline = time.monotonic() + 60
        seen = []
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1.0)
            except queue_module.Empty:
                if worker.poll() is not None:
                    break
                continue
            seen.append(line)
            if "heartbeat 20" in line and "succeeded" not in line:
                break
        assert any("heartbeat 20" in line for line in seen), "".join(seen[-30:])
    finally:
        worker.terminate()
        worker.wait(20)


def test_a_service_kicks_a_task_by_name_in_a_process_that_never_imported_the_tasks(tmp_path):
    """Services name their tasks (each app's tasks module imports its services); a web process has imported no
    tasks module when a service first kicks one, and the kick must still find it (it answered NotRegistered, a
    500 after the commit, in the live server of the browser journeys)."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    script = (
        "import django; django.setup()\n"
        "from celery import current_app\n"
        "from ketlogistic.core.broker import kick\n"
        "assert 'warehouses.release_waiting' not in current_app.tasks\n"
        "print(kick('warehouses.release_waiting', (1, 1), what='a test kick'))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ketlogistic.settings.test",
        # a broker nobody answers on: the kick gives up at once and says so (it never raises)
        "REDIS_URL": "redis://127.0.0.1:9/0",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_every_task_the_code_kicks_by_name_is_a_registered_task():
    """`broker.kick("<app>.<task>", …)` names a task; a misspelled name would queue nothing (it is logged, never a
    500 after the commit), so every name in the code must be one the worker knows."""
    import re
    import tomllib
    from pathlib import Path

    from celery import current_app

    root = Path(__file__).resolve().parents[2]
    named = {
        match.group(1)
        for app in tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
            "importlinter"
        ]["root_packages"]
        for path in (root / app).rglob("*.py")
        for match in re.finditer(r'\bkick\(\s*"([^"]+)"', path.read_text(encoding="utf-8"))
    }
    current_app.loader.import_default_modules()
    assert named and named <= set(current_app.tasks)
