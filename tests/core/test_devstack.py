"""`make test` / `make run` server selection."""

import pytest

from ketlogistic import devstack


def test_ci_requires_the_local_servers(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(devstack, "LOCAL_PG", "postgres://postgres@127.0.0.1:1/ketlogistic")
    monkeypatch.setattr(devstack, "_port_open", lambda host, port: False)

    with pytest.raises(SystemExit, match="CI=true but no PostgreSQL"):
        with devstack.servers("test"):
            pass


def test_given_urls_win(monkeypatch):
    import os

    url = os.environ["DATABASE_URL"]
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")

    with devstack.servers("test") as env:
        assert env == {"DATABASE_URL": url, "REDIS_URL": "redis://127.0.0.1:6379/3"}


def test_celery_gets_the_socket_form_of_a_unix_redis_url():
    from ketlogistic.env import celery_broker_url

    assert celery_broker_url("unix:///data/redis.sock?db=0") == "redis+socket:///data/redis.sock?db=0"
    assert celery_broker_url("redis://h:6379/0") == "redis://h:6379/0"


def test_the_cache_lives_in_the_database_after_the_broker_s():
    from ketlogistic.env import cache_redis_url

    assert cache_redis_url("redis://h:6379/0") == "redis://h:6379/1"
    assert cache_redis_url("redis://:secret@h:6379/3") == "redis://:secret@h:6379/4"
    assert cache_redis_url("redis://h:6379") == "redis://h:6379/1"
    assert cache_redis_url("unix:///data/redis.sock") == "unix:///data/redis.sock?db=1"
    assert cache_redis_url("unix:///data/redis.sock?db=2") == "unix:///data/redis.sock?db=3"


def test_clearing_the_cache_never_drops_queued_tasks(settings):
    assert settings.CACHES["default"]["LOCATION"] != settings.CELERY_BROKER_URL


def test_the_install_tells_its_progress_instead_of_a_silent_minute_and_a_half():
    """`make run` pipes pip's output through `pip-progress`: a line every few seconds while packages are found, one
    per wheel built, one when installing, and the time it took."""
    import io

    pip_says = [
        "Obtaining file:///work/ketlogistic\n",
        "Collecting Django<5.3,>=5.2\n",
        "  Downloading django-5.2.9-py3-none-any.whl (8.3 MB)\n",
        "Collecting celery>=5.4\n",
        "Collecting psycopg[binary]>=3.2\n",
        "  Building wheel for ketlogistic (pyproject.toml): started\n",
        "Installing collected packages: django, celery, psycopg, ketlogistic\n",
        "Successfully installed celery-5.4 django-5.2.9 ketlogistic-0 psycopg-3.2\n",
    ]
    ticks = iter([0.0, 1.0, 4.0, 4.0, 5.0, 90.0])
    out = io.StringIO()

    found = devstack.pip_progress(pip_says, out=out, every=3.0, clock=lambda: next(ticks))

    assert found == 3
    assert out.getvalue().splitlines() == [
        "[install] finding the packages to install…",
        "[install] 2 packages found so far (celery>=5.4), 4 s",
        "[install] building ketlogistic…",
        "[install] installing 4 packages…",
        "[install] installed in 90 s",
    ]


def test_every_process_logs_in_one_zone_with_its_offset_shown(settings):
    """Django sets each process's TZ to TIME_ZONE; `make run` and docker-compose give gunicorn's master the same, and
    Celery logs through the project's LOGGING, whose time shows the offset."""
    import logging
    import time
    from pathlib import Path

    import yaml

    compose = yaml.safe_load((Path(devstack.ROOT) / "docker-compose.yml").read_text(encoding="utf-8"))
    formatter = logging.Formatter(
        settings.LOGGING["formatters"]["plain"]["format"], settings.LOGGING["formatters"]["plain"]["datefmt"]
    )
    record = logging.makeLogRecord({"msg": "heartbeat", "levelname": "INFO", "name": "x", "created": 0})

    assert devstack.LOG_TIME_ZONE == settings.TIME_ZONE == compose["x-app"]["environment"]["TZ"]
    assert formatter.format(record).startswith(time.strftime("%Y-%m-%d %H:%M:%S%z", time.localtime(0)))


def test_celery_logs_through_the_project_s_logging_at_its_own_level(settings):
    """Celery's worker and beat would log in their own format (no offset, no phone masking): they take the
    project's LOGGING instead, at the level given with --loglevel."""
    import logging
    from logging.config import dictConfig

    from celery import signals

    import ketlogistic.celery  # noqa: F401 - connects the receiver

    try:
        signals.setup_logging.send(
            sender=None, loglevel=logging.INFO, logfile=None, format="", colorize=False
        )
        root = logging.getLogger()
        formats = {handler.formatter.datefmt for handler in root.handlers if handler.formatter}
        masks = {type(f).__name__ for handler in root.handlers for f in handler.filters}
        assert (root.level, formats, masks) == (logging.INFO, {"%Y-%m-%d %H:%M:%S%z"}, {"RedactPhonesFilter"})
    finally:
        dictConfig(settings.LOGGING)
