"""A mixed load against a real gunicorn on loopback (the production command, `bench/`'s harness): partner CRMs
posting orders through the API, partners browsing their cabinet, logists pulling the call queue, couriers
opening their route and customers on the tracking page, all at once for LOAD_SECONDS (default 300).

Zero 5xx; each kind's p95 within its limit (below); the web workers' memory flat (the last minute against the
first, after a warm-up). The figures go to tests/artifacts/load.json.

The limit of each kind is its BENCHMARKS.md target where the benchmark meets it on every machine it documents;
where it documents the target as missed, the worst figure it documents (measured with the server saturated by
that kind alone), which a steady mix must not exceed. Tracking is the exception, said where it is set. The rates are people's steady pace (an open loop, like the
tracking benchmark), not saturation; each client's pause stays under gunicorn's 2 s keep-alive, so a client
never reuses a connection the server is closing at that moment (a reset no server fault causes).

    LOAD_SECONDS=60 python -m ketlogistic.devstack test -- tests/test_mixed_load.py -m slow
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench import load
from bench import run as bench

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = ROOT / "tests" / "artifacts" / "load.json"
SECONDS = int(os.environ.get("LOAD_SECONDS", "300"))
PORT = int(os.environ.get("LOAD_PORT", "8771"))
ORDERS = int(os.environ.get("LOAD_ORDERS", "5000"))
MEMORY_MARGIN_MB = 10  # the benchmark's "no growth" margin

# kind: (clients, seconds between one client's requests, p95 limit in ms, where the limit comes from)
KINDS = {
    "api_intake": (
        4,
        1.0,
        395.0,
        "BENCHMARKS.md: target p95 ≤ 50 ms missed; documented 262–395 ms (single POST)",
    ),
    "cabinet": (
        2,
        1.5,
        274.0,
        "BENCHMARKS.md: target p95 ≤ 150 ms met on the faster machine, missed on the slower; documented 137–274 ms",
    ),
    "logist_queue": (
        4,
        1.5,
        188.0,
        "BENCHMARKS.md: target p95 ≤ 30 ms missed; documented 164–188 ms (next call)",
    ),
    "courier": (2, 1.5, 274.0, "no benchmark of its own: a page, as the order lists (documented 137–274 ms)"),
    # The tracking benchmark meets 30 ms alone (14–22 ms); in this mix it shares the 2 cores with four other kinds
    # and the load clients, and its p95 was 30–54 ms over three runs on two machines: the limit is the figure
    # BENCHMARKS.md documents for tracking after its fix on the slower machine.
    "tracking": (10, 1.0, 83.0, "BENCHMARKS.md: tracking 83 ms (the slower machine); target 30 ms met alone"),
}


SETUP = """
import django, json, sys
django.setup()
from bench.run import context
from ketlogistic.core.models import StaffScope, User
from ketlogistic.core.roles import Role
from geography.models import City
ctx = context(int(sys.argv[1]))
almaty = City.objects.get(name="Алматы")
couriers = []
for n in (1, 2):
    user, created = User.objects.get_or_create(username=f"load_courier_{n}", defaults={"role": Role.COURIER})
    if created:
        user.set_password("ketdemo-2026")
        user.save()
        StaffScope.objects.create(user=user, city=almaty)
    couriers.append(user.username)
ctx["couriers"] = couriers
print(json.dumps(ctx, default=str))
"""


@pytest.fixture(scope="module")
def server():
    """The load database (`<name>_load`, generated once and kept), and gunicorn on it."""
    import psycopg

    configured = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ketlogistic")
    url = bench.with_database(configured, bench.database_name(configured) + "_load")
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "ketlogistic.settings.bench"}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    with psycopg.connect(bench.with_database(configured, "postgres"), autocommit=True) as conn:
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [bench.database_name(url)]
        ).fetchone():
            conn.execute(f'CREATE DATABASE "{bench.database_name(url)}"')
    bench.manage(env, "migrate", "--noinput", "-v0")
    bench.manage(env, "load_reference_data", capture=True)
    bench.use_round_the_clock_calendar(env)  # the logists pull customers at any hour the load runs
    with psycopg.connect(url) as conn:
        have = conn.execute("SELECT count(*) FROM orders_order").fetchone()[0]
    if have < ORDERS:
        bench.manage(env, "generate_volume", "--orders", str(ORDERS - have), "--partners", "4", "--weeks", "4",
                     "--products", "20", capture=True)  # fmt: skip
    ctx = json.loads(
        subprocess.run(
            [sys.executable, "-c", SETUP, str(ORDERS)], cwd=ROOT, env=env, check=True, text=True,
            capture_output=True,
        ).stdout.strip().splitlines()[-1]
    )  # fmt: skip
    ctx["url"] = url
    bench.PORT, bench.BASE = PORT, f"http://127.0.0.1:{PORT}"
    (ROOT / ".data").mkdir(exist_ok=True)
    gunicorn = bench.start_gunicorn(env)
    try:
        yield gunicorn, ctx
    finally:
        gunicorn.terminate()
        try:
            gunicorn.wait(15)
        except subprocess.TimeoutExpired:
            gunicorn.kill()


def _workloads(ctx: dict) -> dict:
    """For each kind: its clients (sessions) and one request of it."""
    import psycopg

    base = bench.BASE
    key, skus = ctx["keys"][0], ctx["skus"][0]
    tag = f"LOAD{int(time.time())}"

    def api(client, i, k):
        [row] = bench._order_rows(1, f"{tag}-{i}-{k}", skus, "Алматы")
        return client.post(f"{base}/api/v1/orders/", json=row, headers={"Authorization": f"Api-Key {key}"},
                           timeout=30)  # fmt: skip

    pages = [
        "/orders/",
        "/orders/?status=paid",
        f"/orders/?city={ctx['almaty']}",
        "/warehouses/stock/",
        "/billing/",
    ]

    def cabinet(client, i, k):
        return client.get(f"{base}{pages[(i + k) % len(pages)]}", timeout=30)

    logists = [load.login(base, f"volume_logist_{n:02d}", bench.PASSWORD) for n in range(1, 5)]
    for client in logists:
        client.token = load.csrf_of(client, f"{base}/callcenter/")
    conns = [psycopg.connect(ctx["url"], autocommit=True) for _ in logists]

    def queue(client, i, k):
        answer = client.post(f"{base}/callcenter/next/", data={"csrfmiddlewaretoken": client.token},
                             headers={"Referer": f"{base}/callcenter/"}, allow_redirects=False, timeout=30)  # fmt: skip
        location = answer.headers.get("Location", "")
        if "/call/" in location:  # nobody answered: due again later, the claim released (as in the benchmark)
            order_id = int(location.rstrip("/").rsplit("/", 1)[-1])
            conns[i].execute("UPDATE callcenter_callstate SET next_call_at = now() + interval '4 hours' "
                             "WHERE order_id = %s", [order_id])  # fmt: skip
            conns[i].execute("DELETE FROM callcenter_callclaim WHERE order_id = %s", [order_id])
        return answer

    def courier(client, i, k):  # the courier's phone reloads today's route
        return client.get(f"{base}/delivery/my/", timeout=30)

    trackers = []
    for n in range(KINDS["tracking"][0]):
        client = load.session()
        client.headers["X-Real-IP"] = f"10.1.0.{n + 1}"
        client.token = load.csrf_of(client, f"{base}/track/")
        trackers.append(client)
    pairs = ctx["tracking"]

    def track(client, i, k):
        number, digits = pairs[(i * 1000 + k) % len(pairs)]
        return client.post(f"{base}/track/", data={"csrfmiddlewaretoken": client.token, "number": number,
                           "last_digits": digits}, headers={"Referer": f"{base}/track/"}, timeout=30)  # fmt: skip

    return {
        "api_intake": (
            [load.session() for _ in range(KINDS["api_intake"][0])],
            api,
            lambda r: r.status_code == 201,
        ),
        "cabinet": ([load.login(base, ctx["users"][n], bench.PASSWORD) for n in range(2)], cabinet, None),
        "logist_queue": (logists, queue, lambda r: r.status_code == 302),
        "courier": ([load.login(base, name, bench.PASSWORD) for name in ctx["couriers"]], courier, None),
        "tracking": (trackers, track, lambda r: r.status_code == 200),
    }, conns


def test_mixed_load_has_no_errors_keeps_p95_within_limits_and_memory_flat(server):
    gunicorn, ctx = server
    workloads, conns = _workloads(ctx)
    samples: dict[str, load.Sample] = {}
    memory: list[tuple[float, float]] = []  # (seconds since start, RSS of the largest worker, MB)
    done = threading.Event()

    def run_kind(kind):
        clients, work, ok = workloads[kind]
        interval = KINDS[kind][1]
        samples[kind] = load.run(clients, work, per_client=max(1, int(SECONDS / interval)), interval=interval,
                                 warmup=3, **({"ok": ok} if ok else {}))  # fmt: skip

    def watch_memory(started):
        while not done.wait(2.0):
            memory.append((time.perf_counter() - started, max(bench.worker_memory(gunicorn)["rss_mb"])))

    started = time.perf_counter()
    threads = [threading.Thread(target=run_kind, args=(kind,)) for kind in KINDS]
    watcher = threading.Thread(target=watch_memory, args=(started,))
    for thread in [*threads, watcher]:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    watcher.join()
    elapsed = time.perf_counter() - started
    for conn in conns:
        conn.close()

    window = min(60.0, elapsed / 3)  # the first and the last minute (a third of a shorter run)
    first = [mb for t, mb in memory if t <= window]
    last = [mb for t, mb in memory if t >= elapsed - window]
    growth = round(statistics.mean(last) - statistics.mean(first), 1)
    figures = {
        "seconds": round(elapsed, 1),
        "kinds": {
            kind: {
                **samples[kind].summary(),
                "clients": KINDS[kind][0],
                "interval_s": KINDS[kind][1],
                "p95_limit_ms": KINDS[kind][2],
                "limit_from": KINDS[kind][3],
            }
            for kind in KINDS
        },
        # pulls that took a customer (the rest found nobody due): the queue measured is the real one
        "customers_taken": sum(
            "/call/" in r.headers.get("Location", "") for r in samples["logist_queue"].results
        ),
        "memory": {
            "window_s": round(window, 1),
            "first_mb": round(statistics.mean(first), 1),
            "last_mb": round(statistics.mean(last), 1),
            "growth_mb": growth,
            "margin_mb": MEMORY_MARGIN_MB,
            "samples": memory,
        },
    }
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(json.dumps(figures, ensure_ascii=False, indent=2))

    for kind, sample in samples.items():
        server_errors = {status: n for status, n in sample.statuses.items() if str(status)[0] == "5"}
        assert server_errors == {} and "exception" not in sample.statuses, (kind, sample.errors[:3])
        assert not sample.errors, (kind, sample.errors[:3])
        assert sample.percentile(0.95) * 1000 <= KINDS[kind][2], (kind, figures["kinds"][kind])
    assert growth <= MEMORY_MARGIN_MB, figures["memory"]
