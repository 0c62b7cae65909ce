"""Browser journeys: Playwright for Python driving Debian's Chromium against a live test server.

No browser is downloaded: `.ci/run` (and `make test`) install Debian's `chromium` with apt.
"""

import json
import os
import queue as queue_module
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.broker_namespace import BrokerNamespace
from tests.factories import PASSWORD
from tests.faults_support import database_url

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _chromium() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Chromium is not installed: run `apt-get install chromium` (make test does it as root)")
    return path


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="ru-RU"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def phone_page(browser, live_server):
    """A phone-sized screen, as couriers use."""
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        locale="ru-RU",
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def browser_login():
    """Sign in as a person does: the password, then (a login that has or must have a second factor) the code its
    authenticator app shows (`tests/second_factor.py`: a login that must enrol and has not gets an app first)."""

    def login(page, username: str, password: str = PASSWORD):
        from ketlogistic.core.models import User
        from tests.second_factor import code_for, enrol, needs_code

        user = User.objects.filter(username=username).first()
        device = enrol(user) if user is not None and needs_code(user) else None
        page.goto("/accounts/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("#login-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        if device is not None and "/accounts/second-factor/verify/" in page.url:
            page.fill("input[name=code]", code_for(device))
            page.click("#second-factor-form button[type=submit]")
            page.wait_for_load_state("networkidle")

    return login


@pytest.fixture
def screenshot():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def shot(page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shot


# -- a real Celery worker beside the live server ---------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
# The worker runs each task at the story's moment: before a task it reads the clock file the test writes
# (`StoryClock.travel`) and travels there with time-machine, so it and the live server share one clock.
WORKER_BOOT = """
import json, os, sys, time
import time_machine
from celery.signals import task_postrun, task_prerun

travels = []


@task_prerun.connect(weak=False)
def _story_clock(**_kwargs):
    with open(os.environ["KL_STORY_CLOCK"]) as clock:
        story = json.load(clock)
    if story:
        travels.append(time_machine.travel(story["at"] + time.time() - story["real"], tick=True))
        travels[-1].start()


@task_postrun.connect(weak=False)
def _real_clock(**_kwargs):  # between tasks the worker's own machinery keeps the real clock
    while travels:
        travels.pop().stop()


from celery.__main__ import main

sys.argv = ["celery", *sys.argv[1:]]
main()
"""


class StoryClock:
    """time-machine for the test process (and so the live server) and the Celery worker alike."""

    def __init__(self, path: Path):
        self.path = path
        self.path.write_text("{}")

    @contextmanager
    def travel(self, moment):
        import time_machine
        from time_machine import escape_hatch

        with time_machine.travel(moment, tick=True):
            self.path.write_text(json.dumps({"at": time.time(), "real": escape_hatch.time.time()}))
            try:
                yield
            finally:
                self.path.write_text("{}")


@pytest.fixture
def story_clock(tmp_path) -> StoryClock:
    return StoryClock(tmp_path / "story-clock.json")


@pytest.fixture
def broker_namespace():
    namespace = BrokerNamespace()
    yield namespace
    namespace.forget()  # what was sent after the worker stopped, its bindings


@pytest.fixture
def celery_worker(live_server, story_clock, broker_namespace):
    """A real `celery worker` process on the real Redis and the live test database, taking every queue in a broker
    namespace of its own (`tests/broker_namespace.py`): every task the product kicks during the test (webhook
    deliveries, Excel uploads, …) goes to its queue there; the test sends its own with `broker_namespace.send`."""
    from ketlogistic.core import queues

    namespace = broker_namespace
    name = namespace.prefix.rstrip(":")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ketlogistic.settings.test",
        "DATABASE_URL": database_url(),
        "KL_STORY_CLOCK": str(story_clock.path),
        **namespace.env,
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER_BOOT, "-A", "ketlogistic", "worker", "--pool", "solo"]
        + ["--loglevel", "INFO", "-Q", ",".join(queues.QUEUES)]
        + ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@localhost"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue_module.Queue = queue_module.Queue()
    seen: list[str] = []
    threading.Thread(target=lambda: [lines.put(line) for line in worker.stdout], daemon=True).start()
    deadline = time.monotonic() + 60
    while not any(" ready." in line for line in seen):
        if time.monotonic() > deadline or worker.poll() is not None:
            worker.kill()
            pytest.fail("the Celery worker did not start:\n" + "".join(seen[-40:]))
        try:
            seen.append(lines.get(timeout=0.5))
        except queue_module.Empty:
            pass
    try:
        with namespace.for_the_product():
            yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)
        while not lines.empty():
            seen.append(lines.get())
        errors = [line for line in seen if "Traceback" in line or "ERROR/" in line]
        assert not errors, "the worker failed:\n" + "".join(seen[-60:])
