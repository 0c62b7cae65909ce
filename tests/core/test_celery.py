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
        heartbeat.apply_async(queue=queue)
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
