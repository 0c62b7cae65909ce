"""The Celery queues: one per kind of work, so that a long job of one kind never holds up another.

Which task goes to which queue is one table in the settings (`QUEUE_OF_TASK`, turned into `CELERY_TASK_ROUTES`); a test
holds every registered task to an entry there. The workers consume the queues in two groups (`make run` and
docker-compose.yml start one worker per group; docs/OPERATIONS.md, «Queues and workers»):

* fast — what someone waits for within seconds: webhooks, the customers' SMS and other messages, the call center's
  work, and the rest (`default`: the heartbeat, nightly housekeeping);
* slow — work that may run for minutes: billing's runs and documents, reports, exports and Excel imports.

This module names the queues and reads their lengths from the broker (`queue_lengths`, for the metrics); it imports
nothing of Django's or Celery's at import time, so that the settings may import it. The process launcher
(`ketlogistic.devstack`, which imports nothing of the project) and docker-compose.yml spell the groups' `-Q` out; a
test holds them equal to `GROUPS`.
"""

from __future__ import annotations

WEBHOOKS = "webhooks"  # the partners' webhook deliveries
MESSAGES = "messages"  # the customers' SMS and their statuses, e-mails, the partners' CRMs (statuses, pulls)
CALLING = "calling"  # the call center: registries, unreached orders, orders going on to the logists' queue
BILLING = "billing"  # weekly charge runs, approvals, monthly documents and reports
REPORTS = "reports"  # large exports (orders, statements) and the Excel uploads' check and import
DEFAULT = "default"  # the rest: the heartbeat, nightly housekeeping, the warehouses' daily plans

# Every queue, in the order the documents list them.
QUEUES = (WEBHOOKS, MESSAGES, CALLING, BILLING, REPORTS, DEFAULT)

# The worker groups: latency-sensitive work never waits behind a long run.
FAST = (WEBHOOKS, MESSAGES, CALLING, DEFAULT)
SLOW = (BILLING, REPORTS)
GROUPS = {"fast": FAST, "slow": SLOW}


def queue_lengths(*, connection=None) -> dict[str, int]:
    """How many tasks wait in each queue (taken by no worker yet), by queue name; every queue is listed.

    Kombu's Redis transport keeps a queue as a Redis list named after it, and a task sent with a priority in a list of
    its own per priority step (`<queue>\\x06\\x16<step>`, kombu's `PRIORITY_STEPS`, 0 being the plain list); with
    the broker's `global_keyprefix` every key starts with it (kombu's client adds it). Tasks a worker already holds
    (late acknowledgement: in kombu's `unacked` hash) are not counted. One round trip; raises what the broker raises
    when it does not answer (`kombu.exceptions.OperationalError`, redis-py's errors). `connection`: a kombu connection
    to read through (default: a new one to the app's broker, closed afterwards)."""
    from celery import current_app

    if connection is None:
        # one attempt, no retries: a broker that does not answer must not hold the caller (a metrics scrape)
        with current_app.connection_for_read(transport_options={"max_retries": 0}) as own:
            return queue_lengths(connection=own)
    channel = connection.default_channel
    steps = sorted({step for step in channel.priority_steps if step})
    keys = [
        (queue, queue if not step else f"{queue}{channel.sep}{step}")
        for queue in QUEUES
        for step in [0, *steps]
    ]
    with channel.client.pipeline(transaction=False) as pipe:
        for _queue, key in keys:
            pipe.llen(key)
        sizes = pipe.execute()
    lengths = dict.fromkeys(QUEUES, 0)
    for (queue, _key), size in zip(keys, sizes, strict=True):
        lengths[queue] += int(size or 0)
    return lengths
