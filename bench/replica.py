"""`make bench`: the read-only pages with and without a read replica (issue 21, item 4).

The same pages — the finance director's period report, a partner's statement page and dashboard, its order and stock
exports, the API's order list — are measured twice under the same gunicorn: on the primary alone, then with
`DATABASE_REPLICA_URL` pointing at a streaming replica of the benchmark's database started for the run
(`tests/replica_support.py`: a base backup of the benchmark database and the system ones, a hot standby on another
port from the same binaries). Both figures stand side by side, and the replica's own statistics prove that it served
the pages. On one machine the replica shares the cores with the primary and the web workers: the figure shows what
going through the replica costs and that the pages keep working, not the capacity a replica on its own host adds.
"""

from __future__ import annotations

import datetime as dt
import time

PAGES_WHAT = "read-only pages (period report, statement, dashboard, order and stock exports, API order list)"


FINANCE_TOTP_KEY = b"bench-finance-key"
_last_step: list[int] = [0]


def _finance_login() -> str:
    """The bench's finance director, with its own authenticator: the role signs in with a second factor."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from ketlogistic.core.models import User
    from ketlogistic.core.roles import Role

    from .run import PASSWORD

    user = User.objects.filter(username="volume_finance").first()
    if user is None:
        user = User.objects.create_user("volume_finance", password=PASSWORD, role=Role.FINANCE_DIRECTOR)
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        TOTPDevice.objects.create(user=user, name="bench", key=FINANCE_TOTP_KEY.hex(), confirmed=True)
    return "volume_finance"


def _finance_session(finance: str):
    """Signed in with a code of a time step not used yet (a code is taken once: a second sign-in within the same 30 s
    would be refused, and the wrong try would make the next one wait)."""
    from . import load
    from .run import BASE, PASSWORD

    step = int(time.time() // 30)
    if step <= _last_step[0]:
        time.sleep((_last_step[0] + 1) * 30 - time.time() + 0.5)
    _last_step[0] = int(time.time() // 30)
    return load.login(BASE, finance, PASSWORD, totp_key=FINANCE_TOTP_KEY)


def _measure(ctx: dict, finance: str, *, per_client: int) -> dict:
    from django.utils import timezone

    from . import load
    from .run import BASE, PASSWORD, _latency

    today = timezone.localdate()
    # a few days of orders: exported at once, not by a worker
    recent = (today - dt.timedelta(days=3)).isoformat()
    staff = _latency(
        [_finance_session(finance)],
        [f"/billing/report/?since={today.replace(day=1).isoformat()}&until={today.isoformat()}"],
        per_client,
    )
    partner = _latency(
        [load.login(BASE, ctx["users"][0], PASSWORD)],
        [
            "/billing/",
            "/cabinet/",
            f"/orders/export.xlsx?created_from={recent}",
            "/warehouses/stock/?format=xlsx",
        ],
        per_client,
    )
    api = _latency(
        [load.session()],
        ["/api/v1/orders/"],
        per_client,
        headers={"Authorization": f"Api-Key {ctx['keys'][0]}"},
    )
    samples = {"period_report": staff, "partner_pages": partner, "api_list": api}
    return {
        "p95_ms": round(max(sample.percentile(0.95) for sample in samples.values()) * 1000, 1),
        "errors": [error for sample in samples.values() for error in sample.errors][:5],
        "statuses": {name: dict(sample.statuses) for name, sample in samples.items()},
        **{name: sample.summary() for name, sample in samples.items()},
    }


def _served(replica, database: str) -> int:
    """Transactions the replica ran in the benchmark's database (a hot standby counts its own readers)."""
    with replica.connect() as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", [database]
        ).fetchone()
    return int(row[0]) if row else 0


def bench_replica(report, ctx: dict, env: dict, *, per_client: int) -> None:
    """Run with the benchmark's gunicorn stopped: it starts its own, once without and once with the replica."""
    from psycopg.conninfo import conninfo_to_dict

    from tests.replica_support import Replica, ReplicaUnavailable

    from .run import database_name, pct, say, start_gunicorn

    finance = _finance_login()
    database = database_name(ctx["bench_url"])
    gunicorn = start_gunicorn(env)
    try:
        alone = _measure(ctx, finance, per_client=per_client)
    finally:
        gunicorn.terminate()
        gunicorn.wait(15)
    say(f"{PAGES_WHAT} on the primary alone: p95 {alone['p95_ms']} ms")

    params = {key: value for key, value in conninfo_to_dict(ctx["bench_url"]).items() if value}
    started = time.perf_counter()
    try:
        replica = Replica.create(params, keep=[database], name="bench")
    except ReplicaUnavailable as exc:
        say(f"no read replica on this machine: {exc}")
        report.add(
            "replica_pages",
            f"{PAGES_WHAT} through a read replica, p95",
            None,
            "ms",
            "≤ 1.2× the same pages on the primary alone, served by the replica",
            False,
            alone["p95_ms"],
            "the same pages on the primary alone, p95 ms",
            None,
            unavailable=str(exc),
            primary=alone,
        )
        return
    ready_s = round(time.perf_counter() - started, 1)
    try:
        replica_url = _on_replica(ctx["bench_url"], replica.port)
        served_before = _served(replica, database)
        gunicorn = start_gunicorn({**env, "DATABASE_REPLICA_URL": replica_url})
        try:
            through = _measure(ctx, finance, per_client=per_client)
        finally:
            gunicorn.terminate()
            gunicorn.wait(15)
        served = _served(replica, database) - served_before
    finally:
        replica.destroy()
    say(
        f"{PAGES_WHAT} through the replica: p95 {through['p95_ms']} ms ({served} transactions on the replica)"
    )
    report.add(
        "replica_pages",
        f"{PAGES_WHAT} through a read replica, p95",
        through["p95_ms"],
        "ms",
        "≤ 1.2× the same pages on the primary alone, served by the replica",
        through["p95_ms"] <= 1.2 * alone["p95_ms"] and served > 0 and not through["errors"],
        alone["p95_ms"],
        "the same pages on the primary alone, p95 ms",
        pct(alone["p95_ms"], through["p95_ms"]),
        primary=alone,
        replica=through,
        replica_transactions=served,
        replica_ready_s=ready_s,
        replica_copy_s=round(replica.timings.get("base_backup", 0), 1),
    )


def _on_replica(url: str, port: int) -> str:
    """The benchmark database's URL with the replica's address (it listens on 127.0.0.1, whatever the primary)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    return urlunsplit(
        (
            parts.scheme,
            f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}",
            parts.path,
            "",
            "",
        )
    )
