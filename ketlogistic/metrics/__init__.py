"""What an operator alerts on: `GET /metrics` in the Prometheus text format (docs/OPERATIONS.md → «Metrics and
alerts»).

* `http`: the request latency histogram by view and status code, the middleware that records it and answers
  `/metrics` itself (a bearer token, before sessions, CSRF, the locale and the login are looked at);
* `state`: the gauges computed at each scrape from the database, the broker and the cache (backlogs, failures,
  the heartbeat's and the last approved charge run's age, queue lengths, the replica's lag).

Like `ketlogistic.wiring`, this package stands above every app: it reads the upper apps' outboxes, and no app
imports it (pyproject.toml's contracts).
"""
