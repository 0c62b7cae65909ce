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
