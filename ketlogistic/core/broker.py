"""Queueing a task from a request path without depending on the broker being up.

Some tasks are only a nudge: the work they do is in the database already (the webhook outbox, orders waiting
for stock) and a periodic task or the next event does it anyway. Such a kick must neither fail the request
whose change has committed nor hold it while Celery retries the connection (about 6 s per kick by default):
during a Redis outage every order intake would wait that long, and a bulk of them would run into the web
server's timeout.
"""

from __future__ import annotations

import logging

from celery import Task, current_app

logger = logging.getLogger(__name__)


def kick(task: Task | str, args: tuple = (), *, what: str, countdown: int | None = None) -> bool:
    """Send `task` (a task or its registered name) to its queue (the settings' `QUEUE_OF_TASK`, through Celery's
    routes) if the broker answers on the first try; else log a warning and return False. A service names its task rather than importing it, because the app's tasks module imports the
    services (no import cycle between the files of an app). `countdown`: seconds before a worker takes it."""
    if isinstance(task, str):
        if task not in current_app.tasks:
            # a web process imports the apps' tasks modules only when something asks: autodiscovery, once
            current_app.loader.import_default_modules()
        if task not in current_app.tasks:
            # a kick runs after the commit: never fail the request whose work is saved (a test proves every name
            # the code kicks is a registered task)
            logger.error("%s not queued: no task is named %r", what, task)
            return False
        task = current_app.tasks[task]
    try:
        # One connection attempt, no retries (the pool's connections retry for seconds when Redis is down).
        with task.app.connection_for_write(transport_options={"max_retries": 0}) as connection:
            task.apply_async(args, connection=connection, retry=False, countdown=countdown)
    except Exception as exc:  # noqa: BLE001 - whatever the broker raises, the work is safe in the database
        logger.warning("%s not queued (%s); the periodic run will do it", what, exc.__class__.__name__)
        return False
    return True
