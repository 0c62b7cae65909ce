"""What one request of each benchmarked path costs the server, without the load: queries, CPU time, wall time.

    python -m ketlogistic.devstack shell -- python -m bench.profile [--repeat 30] [--only create,next] [--cprofile DIR]

Runs in this process against the benchmark's database (`<name>_bench`, filled by `make bench`), through Django's
test client with the whole middleware chain, the CSRF checks on and gzip asked for, as a browser or a CRM sends
them. Each path is requested a few times first (templates compile, caches fill), then `--repeat` times measured:
the CPU time of the request (this thread's), its wall time and its queries (counted in a separate pass, since
counting them costs time). `--cprofile DIR` writes a cProfile of each path (`python -m pstats`, or snakeviz); for a
flame graph run the same under `py-spy record -o flame.svg -- python -m bench.profile --only create`.

The figures are those of one request on an idle machine: a load on 2 shared cores adds waiting, not work. They are
what the server's share of a request is made of, and they compare a change with the code before it exactly.
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import json
import os
import statistics
import sys
import time
from pathlib import Path

PASSWORD = "ketdemo-2026"
HEAVY = {"bulk_1000"}


def _setup() -> None:
    from bench.run import database_name, with_database

    configured = os.environ["DATABASE_URL"]
    if not database_name(configured).endswith("_bench"):
        os.environ["DATABASE_URL"] = with_database(configured, database_name(configured) + "_bench")
    os.environ["DJANGO_SETTINGS_MODULE"] = "ketlogistic.settings.bench"
    import django

    django.setup()


def _client(user=None):
    from django.test import Client

    client = Client(enforce_csrf_checks=True, SERVER_NAME="127.0.0.1", HTTP_ACCEPT_ENCODING="gzip, deflate")
    if user is not None:
        client.post(
            "/accounts/login/",
            {
                "username": user,
                "password": PASSWORD,
                "csrfmiddlewaretoken": _token(client, "/accounts/login/"),
            },
        )
    return client


def _token(client, url: str) -> str:
    from bench.load import CSRF

    return CSRF.search(_text(client.get(url))).group(1)


def _text(answer) -> str:
    body = answer.content
    return (gzip.decompress(body) if answer.get("Content-Encoding") == "gzip" else body).decode()


def paths(ctx: dict) -> dict:
    """name → a function making one request (and undoing what it changed, outside the measurement: `after`)."""
    import psycopg

    from bench.run import _order_rows

    partner_client = _client(ctx["users"][0])
    staff_client = _client("volume_supervisor")
    logist = _client("volume_logist_01")
    logist_token = _token(logist, "/callcenter/")
    api_key = {"HTTP_AUTHORIZATION": f"Api-Key {ctx['keys'][2]}"}
    list_key = {"HTTP_AUTHORIZATION": f"Api-Key {ctx['keys'][0]}"}
    bulk_key = {"HTTP_AUTHORIZATION": f"Api-Key {ctx['keys'][1]}"}
    anonymous = _client()
    raw = psycopg.connect(ctx["bench_url"], autocommit=True)
    counter = iter(range(10**9))
    tag = f"PROF{int(time.time())}"

    def create():
        [row] = _order_rows(1, f"{tag}-{next(counter)}", ctx["skus"][2], ctx["cities"][2])
        answer = anonymous.post("/api/v1/orders/", row, content_type="application/json", **api_key)
        assert answer.status_code == 201, answer.content[:300]
        return answer

    def bulk():
        rows = _order_rows(1000, f"{tag}-B{next(counter)}", ctx["skus"][1], "Алматы")
        answer = anonymous.post(
            "/api/v1/orders/bulk/", {"orders": rows}, content_type="application/json", **bulk_key
        )
        assert answer.status_code == 200 and json.loads(_text(answer))["created"] == 1000, answer.content[
            :300
        ]
        return answer

    def pull():
        answer = logist.post(
            "/callcenter/next/",
            {"csrfmiddlewaretoken": logist_token},
            HTTP_REFERER="http://127.0.0.1/callcenter/",
        )
        location = answer.headers.get("Location", "")
        assert "/call/" in location, (answer.status_code, location)
        return answer

    def after_pull(answer):
        order_id = int(answer.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
        raw.execute(
            "UPDATE callcenter_callstate SET next_call_at = now() + interval '4 hours' WHERE order_id = %s",
            [order_id],
        )
        raw.execute("DELETE FROM callcenter_callclaim WHERE order_id = %s", [order_id])

    def get(client, url, **headers):
        def request():
            answer = client.get(url, **headers)
            assert answer.status_code == 200, (url, answer.status_code)
            return answer

        return request

    deep = ctx["deep_cursor"]
    return {
        "ping": (get(anonymous, "/bench/ping/"), None),
        "page_ceiling": (get(partner_client, "/bench/page/?rows=50"), None),
        "create": (create, None),
        "bulk_1000": (bulk, None),
        "next_call": (pull, after_pull),
        "list_page": (get(partner_client, "/orders/"), None),
        "list_page_deep": (get(partner_client, f"/orders/?cursor={deep}"), None),
        "list_page_staff": (get(staff_client, "/orders/"), None),
        "list_api": (get(anonymous, "/api/v1/orders/", **list_key), None),
        "list_api_deep": (get(anonymous, f"/api/v1/orders/?cursor={deep}", **list_key), None),
        "stock_page": (get(partner_client, "/warehouses/stock/"), None),
        "stock_api": (get(anonymous, "/api/v1/stock/", **list_key), None),
    }


def measure(request, after, *, repeat: int, warmup: int = 3, profile: Path | None = None) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        answer = request()
        if after:
            after(answer)
    cpu, wall = [], []
    profiler = cProfile.Profile(time.thread_time) if profile else None  # CPU time: waits are not work
    for _ in range(repeat):
        started_cpu, started = time.thread_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        answer = request()
        if profiler:
            profiler.disable()
        cpu.append(time.thread_time() - started_cpu)
        wall.append(time.perf_counter() - started)
        if after:
            after(answer)
    if profiler:
        profiler.dump_stats(profile)
    with CaptureQueriesContext(connection) as queries:
        answer = request()
    if after:
        after(answer)
    return {
        "queries": len(queries.captured_queries),
        "cpu_ms": round(statistics.median(cpu) * 1000, 2),
        "wall_ms": round(statistics.median(wall) * 1000, 2),
        "bytes": len(answer.content),
        "sql": [q["sql"][:160] for q in queries.captured_queries],
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.profile")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--only", default="", help="comma-separated path names")
    parser.add_argument("--cprofile", default="", help="a directory for a cProfile of each path")
    parser.add_argument("--sql", action="store_true", help="print each path's queries")
    parser.add_argument("--json", default="", help="write the figures to this file")
    args = parser.parse_args()
    _setup()
    from bench.run import context, database_name

    ctx = context(0)
    from django.conf import settings

    ctx["bench_url"] = os.environ["DATABASE_URL"]
    print(f"[profile] database {database_name(ctx['bench_url'])}, {settings.SESSION_ENGINE}", flush=True)
    wanted = {name for name in args.only.split(",") if name}
    results = {}
    for name, (request, after) in paths(ctx).items():
        if wanted and name not in wanted:
            continue
        profile = Path(args.cprofile) / f"{name}.prof" if args.cprofile else None
        if profile:
            profile.parent.mkdir(parents=True, exist_ok=True)
        heavy = name in HEAVY  # a thousand orders a call: a few calls say enough
        figures = measure(
            request,
            after,
            repeat=min(args.repeat, 5) if heavy else args.repeat,
            warmup=1 if heavy else 3,
            profile=profile,
        )
        results[name] = figures
        print(
            f"[profile] {name:16} {figures['queries']:3} queries  cpu {figures['cpu_ms']:7.2f} ms  "
            f"wall {figures['wall_ms']:7.2f} ms  {figures['bytes']:7} bytes",
            flush=True,
        )
        if args.sql:
            for sql in figures["sql"]:
                print(f"      {sql}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
