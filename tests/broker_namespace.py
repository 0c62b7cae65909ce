"""A test's own corner of the shared Redis broker, for real Celery workers on the real queue names.

Every key kombu writes in the namespace (the queues, the tasks workers hold, the bindings) starts with its prefix
(kombu's `global_keyprefix`, `CELERY_BROKER_KEY_PREFIX` for a worker process), so workers started in it take only
the tasks sent in it: other tests, xdist workers and CI runs on the same Redis database never meet them.

Tasks are sent through a connection of their own (`connection()`), never through the app's shared producer pool,
which an earlier test in the process may have closed.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import redis


class BrokerNamespace:
    def __init__(self) -> None:
        self.prefix = f"test-{uuid.uuid4().hex[:10]}:"

    @property
    def env(self) -> dict[str, str]:
        """The environment of a worker process in the namespace."""
        return {"CELERY_BROKER_KEY_PREFIX": self.prefix}

    def connection(self):
        """A new connection to the broker, in the namespace (close it: `with ns.connection() as conn`)."""
        from ketlogistic.celery import app

        return app.connection_for_write(transport_options={"global_keyprefix": self.prefix})

    def send(self, name: str, args: tuple = (), **options) -> str:
        """Send the task `name` as the product does (its route from the settings, unless `options` name a queue);
        returns its id."""
        from ketlogistic.celery import app

        app.loader.import_default_modules()
        with self.connection() as conn:
            return app.tasks[name].apply_async(args, connection=conn, retry=False, **options).id

    @contextmanager
    def for_the_product(self):
        """What the product kicks in this process (`broker.kick` opens a connection with the app's transport
        options) goes to the namespace meanwhile."""
        from ketlogistic.celery import app

        previous = app.conf.broker_transport_options
        app.conf.broker_transport_options = {**previous, "global_keyprefix": self.prefix}
        try:
            yield self
        finally:
            app.conf.broker_transport_options = previous

    def forget(self) -> None:
        """Delete every key of the namespace (what was sent and never taken, the bindings)."""
        from django.conf import settings

        client = redis.Redis.from_url(settings.REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"{self.prefix}*", count=500))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
