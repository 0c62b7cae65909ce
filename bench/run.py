"""`make bench`: every benchmark of BENCHMARKS.md against real PostgreSQL and Redis and a real gunicorn on
loopback; results in `bench/results/<time>.json` (and `latest.json`), and the table in `BENCHMARKS.md`.

    python -m ketlogistic.devstack shell -- python -m bench.run [--orders 1000000] [--quick]

The data lives in its own database (`<name>_bench` beside the configured one) and is generated once by
`generate_volume`; later runs reuse it. Every figure is printed as it is measured, beside its ceiling measured
the same way on the same machine, because absolute figures do not transfer between machines.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import platform
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PORT = int(os.environ.get("BENCH_PORT", "8765"))  # another port when two checkouts bench on one machine
BASE = f"http://127.0.0.1:{PORT}"
PASSWORD = "ketdemo-2026"
# the volume supervisor's authenticator key (a supervisor signs in with a second factor)
SUPERVISOR_TOTP_KEY = b"bench-supervisor-key"
MARK_BEGIN, MARK_END = "<!-- bench:begin -->", "<!-- bench:end -->"


def say(text: str) -> None:
    print(f"[bench] {text}", flush=True)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "ketlogistic"


def admin(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def manage(env: dict, *args: str, capture: bool = False) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, text=True, capture_output=capture
    )
    return done.stdout or ""


def round_the_clock_calendar() -> None:
    """Every moment a working one in every country of the current database: seven working days a week of
    00:00–23:59:59.999999, no holidays.

    The logists' queue hands out a customer only in the working hours of the customer's country
    (`callcenter.services.queue`). A benchmark, a load or a test that pulls from the queue on the real clock and is
    not about working hours would pull nobody at night, at a weekend or on a holiday (CI runs at any hour) and
    measure the empty pull instead of the real one; with this calendar it measures the same at any hour."""
    from datetime import time

    from ketlogistic.core.calendar import calendars_changed
    from ketlogistic.core.countries import Country
    from ketlogistic.core.models import CalendarException, WorkingCalendar

    for country in Country.values:
        WorkingCalendar.objects.update_or_create(
            country=country,
            defaults={
                "day_starts_at": time.min,
                "day_ends_at": time.max,
                "working_weekdays": [1, 2, 3, 4, 5, 6, 7],
            },
        )
    CalendarException.objects.all().delete()
    calendars_changed()


def use_round_the_clock_calendar(env: dict) -> None:
    """`round_the_clock_calendar` in the database of `env` (a benchmark's or the load's own, after its reference
    data, which brings the holidays back on every run)."""
    manage(
        env,
        "shell",
        "--no-imports",
        "-c",
        "from bench.run import round_the_clock_calendar; round_the_clock_calendar()",
    )


# -- the figures ------------------------------------------------------------------------------------------------------


class Ratio:
    """A figure beside its ceiling from the same run, and its target as a ratio to it: `times` (the measured is at
    most so many times the ceiling: a latency, a duration) or `share` (at least this share of it: a rate). With
    neither, the ratio is shown for information only (`shows`: "times" or "share"), and sets no target."""

    def __init__(
        self,
        measured: float,
        ceiling: float | None,
        *,
        times: float | None = None,
        share: float | None = None,
        shows: str = "times",
    ):
        self.measured, self.ceiling, self.times, self.share = measured, ceiling, times, share
        self.informational = times is None and share is None
        self.as_times = times is not None or (share is None and shows == "times")

    @property
    def value(self) -> float | None:
        if not self.ceiling or self.measured is None:
            return None
        return round(self.measured / self.ceiling, 3)

    @property
    def met(self) -> bool:
        value = self.value
        if self.informational:
            return True
        if value is None:
            return False
        return value <= self.times if self.times is not None else value >= self.share

    @property
    def text(self) -> str:
        value = self.value
        if value is None:
            return "—"
        return f"{value:.2f}×" if self.as_times else f"{100 * value:.1f} %"

    @property
    def target(self) -> str:
        if self.informational:
            return ""
        return f"≤ {self.times:g}×" if self.times is not None else f"≥ {100 * self.share:g} % of the ceiling"

    def as_json(self) -> dict:
        return {
            "measured": self.measured,
            "ceiling": self.ceiling,
            "ratio": self.value,
            "target": None
            if self.informational
            else {"at_most_times": self.times}
            if self.times is not None
            else {"at_least_share": self.share},
            "met": self.met,
        }


class Report:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(
        self,
        key,
        what,
        value,
        unit,
        target,
        met,
        ceiling=None,
        ceiling_what="",
        share=None,
        *,
        ratios: dict[str, Ratio] | None = None,
        **details,
    ):
        """A row of the table. With `ratios` (name → Ratio, each beside its ceiling) the row is met when every ratio
        meets its target and `met` (what no ratio says: duplicates, errors) holds; its target is theirs."""
        ratios = ratios or {}
        if ratios:
            met = bool(met) and all(ratio.met for ratio in ratios.values())
            target = "; ".join(
                [
                    f"{name + ' ' if len(ratios) > 1 else ''}{ratio.target}"
                    for name, ratio in ratios.items()
                    if ratio.target
                ]
                + ([target] if target else [])
            )
        row = {
            "key": key,
            "what": what,
            "value": value,
            "unit": unit,
            "target": target,
            "met": met,
            "ceiling": ceiling,
            "ceiling_what": ceiling_what,
            "percent_of_ceiling": share,
            "ratios": {name: ratio.as_json() for name, ratio in ratios.items()},
            "ratio_text": "; ".join(
                f"{name + ' ' if len(ratios) > 1 else ''}{ratio.text}" for name, ratio in ratios.items()
            ),
            "details": details,
        }
        self.rows.append(row)
        verdict = "met" if met else "MISSED"
        ceiling_text = f" | ceiling {ceiling} ({ceiling_what})" if ceiling is not None else ""
        ratio_text = f", {row['ratio_text']} of it" if row["ratio_text"] else ""
        say(f"{what}: {value} {unit} (target {target}: {verdict}){ceiling_text}{ratio_text}")


def pct(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 1) if whole else None


# -- the server -------------------------------------------------------------------------------------------------------


def start_gunicorn(env: dict) -> subprocess.Popen:
    from ketlogistic.devstack import process_commands

    command = process_commands(bind=f"127.0.0.1:{PORT}", web_workers="2", schedule="")["web"]
    log = open(ROOT / ".data" / "bench-gunicorn.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", *command], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    import requests

    for _ in range(120):
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{BASE}/bench/ping/", timeout=2).status_code == 200:
                return proc
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("gunicorn did not start: see .data/bench-gunicorn.log")


def worker_memory(proc: subprocess.Popen) -> dict:
    import psutil

    workers = psutil.Process(proc.pid).children()
    rss = [w.memory_info().rss for w in workers]
    peak = []
    for w in workers:
        with open(f"/proc/{w.pid}/status") as status:
            peak += [int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM")]
    return {"rss_mb": [round(v / 2**20, 1) for v in rss], "peak_mb": [round(v / 2**20, 1) for v in peak]}


# -- benchmarks -------------------------------------------------------------------------------------------------------


def bench_charge_run(report: Report, env: dict, bench_url: str, orders: int) -> None:
    """In a copy of the bench database: a week of `orders` orders, its charge run computed and approved."""
    copy = database_name(bench_url) + "_run"
    admin(
        bench_url,
        f'DROP DATABASE IF EXISTS "{copy}"',
        f'CREATE DATABASE "{copy}" TEMPLATE "{database_name(bench_url)}"',
    )
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.charge_run", str(orders)],
            cwd=ROOT,
            env={**env, "DATABASE_URL": with_database(bench_url, copy)},
            check=True,
            text=True,
            capture_output=True,
        ).stdout
    finally:
        admin(bench_url, f'DROP DATABASE IF EXISTS "{copy}"')
    figures = json.loads(out.strip().splitlines()[-1])
    seconds, bare = figures["compute_median_s"], figures["bare_median_s"]
    report.add(
        "charge_run",
        f"weekly charge run over a week of {orders:,} orders",
        seconds,
        "s",
        "",
        True,
        bare,
        "bare SQL aggregate of the same totals, s",
        pct(bare, seconds),
        ratios={"time": Ratio(seconds, bare, times=3)},
        ratio_to_bare=round(seconds / bare, 1) if bare else None,
        **figures,
    )
    approval = figures["approve_s"]
    report.add(
        "charge_run_approval",
        f"approval of that week's run (its postings and balance checkpoints, {figures['charges_added']:,} charges)",
        approval,
        "s",
        "≤ 2× the draft's computation",
        approval <= 2 * seconds,
        seconds,
        "the draft's computation of the same week (the row above), s",
        pct(seconds, approval),
        ratio_to_draft=round(approval / seconds, 1) if seconds else None,
    )


def bench_ledger(report: Report, env: dict) -> None:
    """A week's statement and the balance of a partner with five years of entries, beside the same of a partner with
    one week of them (`bench.ledger`: both partners made once in the bench database and kept)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.ledger"], cwd=ROOT, env=env, check=True, text=True, capture_output=True
    ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    entries = f"{figures['entries_years']:,} entries"
    for key, what, value, ceiling, ceiling_what in (
        (
            "ledger_statement",
            f"a week's statement (opening, closing, first page) of a partner with 5 years of balance ({entries})",
            figures["statement_years_ms"],
            figures["statement_week_ms"],
            "the same statement of a partner with one week of entries, ms",
        ),
        (
            "ledger_balance",
            f"a partner's balance over 5 years of entries ({entries}, a checkpoint a week)",
            figures["balance_years_ms"],
            figures["balance_week_ms"],
            "the balance of a partner with one week of entries, ms",
        ),
    ):
        report.add(
            key,
            what,
            value,
            "ms",
            "≤ 2× the same over one week of entries",
            value <= 2 * ceiling,
            ceiling,
            ceiling_what,
            pct(ceiling, value),
            ratio_to_one_week=round(value / ceiling, 2) if ceiling else None,
            **figures,
        )


def _order_rows(count: int, prefix: str, product_skus: list[str], city: str) -> list[dict]:
    rng = random.Random(prefix)
    return [
        {
            "external_id": f"{prefix}-{n:06d}",
            "customer_name": "Айдана Серикова",
            "phone": f"+7 701 {rng.randrange(100, 999)} {rng.randrange(10, 99)} {rng.randrange(10, 99)}"
            if city != "Бишкек"
            else f"+996 555 {rng.randrange(100, 999)} {rng.randrange(100, 999)}",
            "city": city,
            "address": f"ул. Абая, {n % 200 + 1}",
            "items": [{"sku": rng.choice(product_skus), "quantity": 1 + n % 2}],
        }
        for n in range(count)
    ]


def bench_intake(report: Report, ctx: dict, *, calls_per_client: int) -> None:
    from bench import load

    key, skus = ctx["keys"][1], ctx["skus"][1]
    tag = f"BULK{int(time.time())}"
    clients = [load.session() for _ in range(4)]
    batches = {
        (i, k): _order_rows(1000, f"{tag}-{i}-{k}", skus, "Алматы")
        for i in range(4)
        for k in range(calls_per_client)
    }

    def work(client, i, k):
        return client.post(
            f"{BASE}/api/v1/orders/bulk/",
            json={"orders": batches[(i, k)]},
            headers={"Authorization": f"Api-Key {key}"},
            timeout=120,
        )

    sample = load.run(clients, work, per_client=calls_per_client)
    created = sum(r.json().get("created", 0) for r in sample.results if r.status_code == 200)
    rate = round(created / sample.elapsed)
    copy_rate = _copy_ceiling(ctx, tag)
    report.add(
        "intake_bulk",
        "bulk intake POST /api/v1/orders/bulk/ (1 000 per call, 4 clients)",
        rate,
        "orders/s",
        "",
        not sample.errors,
        copy_rate,
        "raw COPY of the same rows (orders, items, phones, history), orders/s",
        pct(rate, copy_rate),
        ratios={"rate": Ratio(rate, copy_rate, share=0.30)},
        created=created,
        **sample.summary(),
    )


def _copy_ceiling(ctx: dict, tag: str) -> int:
    """COPY the rows the API just stored into same-shaped tables (with their indexes): the database's ceiling."""
    import psycopg

    tables = ["orders_order", "orders_orderitem", "orders_orderphone", "orders_orderhistory"]
    where = {
        "orders_order": f"external_id LIKE '{tag}-%'",
        **{
            t: f"order_id IN (SELECT id FROM orders_order WHERE external_id LIKE '{tag}-%')"
            for t in tables[1:]
        },
    }
    with psycopg.connect(ctx["bench_url"]) as conn:
        dumps = {}
        for table in tables:
            buffer = io.BytesIO()
            with conn.cursor().copy(f"COPY (SELECT * FROM {table} WHERE {where[table]}) TO STDOUT") as copy:
                for chunk in copy:
                    buffer.write(chunk)
            dumps[table] = buffer.getvalue()
        orders = conn.execute(f"SELECT count(*) FROM orders_order WHERE {where['orders_order']}").fetchone()[
            0
        ]
        for table in tables:
            conn.execute(
                f"CREATE TEMP TABLE copy_{table} (LIKE {table} INCLUDING DEFAULTS INCLUDING INDEXES)"
            )
        started = time.perf_counter()
        for table in tables:
            with conn.cursor().copy(f"COPY copy_{table} FROM STDIN") as copy:
                copy.write(dumps[table])
        conn.commit()
        seconds = time.perf_counter() - started
    return round(orders / seconds) if seconds else 0


def bench_single_post(report: Report, ctx: dict, *, per_client: int) -> None:
    from bench import load

    key, skus, city = ctx["keys"][2], ctx["skus"][2], ctx["cities"][2]
    tag = f"ONE{int(time.time())}"
    clients = [load.session() for _ in range(16)]

    def work(client, i, k):
        [row] = _order_rows(1, f"{tag}-{i}-{k}", skus, city)
        return client.post(
            f"{BASE}/api/v1/orders/", json=row, headers={"Authorization": f"Api-Key {key}"}, timeout=30
        )

    sample = load.run(clients, work, per_client=per_client, warmup=1)
    ping = load.run(
        [load.session() for _ in range(16)],
        lambda c, i, k: c.post(f"{BASE}/bench/ping/", json={"n": k}, timeout=30),
        per_client=per_client,
        warmup=1,
    )
    s, p = sample.summary(), ping.summary()
    report.add(
        "api_single",
        "single POST /api/v1/orders/ at 16 concurrent clients, p95",
        s["p95_ms"],
        "ms",
        "",
        not sample.errors,
        p["p95_ms"],
        f"bare DRF endpoint p95, ms ({p['rps']} requests/s)",
        pct(p["p95_ms"], s["p95_ms"]),
        ratios={
            "throughput": Ratio(s["rps"], p["rps"], share=0.35),
            "p95": Ratio(s["p95_ms"], p["p95_ms"], times=3),
        },
        ceiling_rps=p["rps"],
        rps_percent_of_ceiling=pct(s["rps"], p["rps"]),
        **s,
    )


def _excel_file(rows: int, skus: list[str]) -> bytes:
    from openpyxl import Workbook

    from integrations.excel import COLUMNS

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Заказы")
    sheet.append([ru for _f, ru, _en, _required in COLUMNS])
    fields = [f for f, *_rest in COLUMNS]
    rng = random.Random(rows)
    for n in range(rows):
        values = {
            "external_id": f"XLS{int(time.time())}-{n:06d}",
            "customer_name": "Гульмира Абенова",
            "phone": f"8 (701) {rng.randrange(100, 999)}-{rng.randrange(10, 99)}-{rng.randrange(10, 99)}",
            "city": "Алматы",
            "address": f"мкр. Самал-2, д. {n % 90 + 1}",
            "sku": rng.choice(skus),
            "quantity": 1 + n % 3,
        }
        sheet.append([values.get(f, "") for f in fields])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def start_worker(env: dict) -> subprocess.Popen:
    """`make run`'s slow worker (the queues of billing and of reports, exports and Excel uploads:
    `ketlogistic.core.queues.SLOW`) in a single process (`--pool solo`): the Excel check and import run in it, and its
    memory is the process's own. The fast queues' tasks the intake kicks (webhooks, SMS) are not its work."""
    from ketlogistic.core import queues

    log = open(ROOT / ".data" / "bench-worker.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ketlogistic",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "-Q",
            ",".join(queues.SLOW),
        ]
        + [
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"bench-{os.getpid()}@localhost",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if " ready." in (ROOT / ".data" / "bench-worker.log").read_text(errors="replace"):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the Celery worker did not start: see .data/bench-worker.log")


def process_peak_mb(proc: subprocess.Popen) -> float:
    with open(f"/proc/{proc.pid}/status") as status:
        return round(next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024, 1)


def _until(import_id: int, states: set[str], timeout: float = 300) -> float:
    """The moment the upload's row reaches one of `states`, read every 20 ms straight from the database (a page polls
    its progress every second: polling the web this often would load the machine the work runs on)."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT state FROM integrations_excelimport WHERE id = %s", [import_id])
            (state,) = cursor.fetchone()
        if state in states:
            return time.perf_counter()
        time.sleep(0.02)
    raise RuntimeError(
        f"upload {import_id}: the worker did not finish within {timeout} s (.data/bench-worker.log)"
    )


def bench_excel(report: Report, ctx: dict, gunicorn: subprocess.Popen, env: dict) -> None:
    """Upload → checked → «Import» → imported, as the page does it: the web stores the file and the user's word, a
    Celery worker does the work; the figure runs from the upload's request to the import's end in the database."""
    from bench import load

    client = load.login(BASE, ctx["users"][3], PASSWORD)
    content = _excel_file(10_000, ctx["skus"][3])
    worker = start_worker(env)
    try:
        before = worker_memory(gunicorn)
        worker_before = process_peak_mb(worker)
        started = time.perf_counter()
        token = load.csrf_of(client, f"{BASE}/integrations/excel/")
        uploaded = client.post(
            f"{BASE}/integrations/excel/",
            data={"csrfmiddlewaretoken": token},
            files={"file": ("orders.xlsx", content)},
            headers={"Referer": f"{BASE}/integrations/excel/"},
            allow_redirects=False,
            timeout=300,
        )
        page = f"{BASE}{uploaded.headers.get('Location', '')}"
        import_id = int(page.rstrip("/").rsplit("/", 1)[1])
        progress = client.get(f"{page}progress/", headers={"HX-Request": "true"}, timeout=30)
        checked_at = _until(import_id, {"validated", "rejected", "failed"})
        checked = client.get(page, timeout=30)
        token = load.CSRF.search(checked.text).group(1)
        imported = client.post(
            page,
            data={"csrfmiddlewaretoken": token},
            headers={"Referer": page},
            allow_redirects=False,
            timeout=300,
        )
        imported_at = _until(import_id, {"imported", "failed"})
        landed = client.get(f"{page}progress/", headers={"HX-Request": "true"}, timeout=30)
        seconds = round(imported_at - started, 2)
        after = worker_memory(gunicorn)
        worker_peak = process_peak_mb(worker)
    finally:
        worker.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(15)
    peak = max([worker_peak, *after["peak_mb"]])
    ok = (
        uploaded.status_code == 302
        and progress.status_code == 200
        and 'data-testid="import"' in checked.text
        and imported.status_code == 302
        and landed.headers.get("HX-Redirect") == "/orders/"
    )
    report.add(
        "excel",
        "Excel intake of a 10 000-row file, upload to imported (checked and imported by a Celery worker)",
        seconds,
        "s",
        "≤ 5 s, peak memory ≤ 300 MB",
        ok and seconds <= 5 and peak <= 300,
        None,
        "",
        None,
        check_seconds=round(checked_at - started, 2),
        import_seconds=round(imported_at - checked_at, 2),
        peak_worker_mb=worker_peak,
        worker_peak_before_mb=worker_before,
        peak_web_mb=max(after["peak_mb"]),
        memory_before=before,
        memory_after=after,
        upload_status=uploaded.status_code,
        import_status=imported.status_code,
        file_kb=round(len(content) / 1024),
    )


def _latency(clients, urls, per_client, headers=None):
    from bench import load

    return load.run(
        clients,
        lambda c, i, k: c.get(f"{BASE}{urls[(i + k) % len(urls)]}", headers=headers or {}, timeout=30),
        per_client=per_client,
        warmup=2 * len(urls),  # every URL once per worker process, before the clock starts
    )


def _keyset_ceiling(ctx: dict, sql: str, params: list, repeat: int = 30) -> float:
    import psycopg

    with psycopg.connect(ctx["bench_url"]) as conn:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            conn.execute(sql, params).fetchall()
            times.append(time.perf_counter() - started)
    times.sort()
    return round(times[round(0.95 * (len(times) - 1))] * 1000, 1)


def _table_shape(html: str) -> tuple[int, int]:
    """The rows of a page's tables and the cells of a row, as the page was sent (the bare page ceiling's size)."""
    bodies = re.findall(r"<tbody>(.*?)</tbody>", html, re.S)
    rows = sum(body.count("<tr") for body in bodies)
    cells = sum(body.count("<td") for body in bodies)
    return max(rows, 1), max(1, round(cells / rows)) if rows else 1


def _bare_page(ctx: dict, shape: tuple[int, int], per_client: int):
    """The bare page ceiling: as many rows of as many cells, made in memory, through the same base template (menu,
    notices, prompts), middleware and login as the product's pages, for the same user, one request at a time."""
    from bench import load

    rows, cells = shape
    client = load.login(BASE, ctx["users"][0], PASSWORD)
    return _latency([client], [f"/bench/page/?rows={rows}&cols={cells}"], per_client)


def bench_order_lists(report: Report, ctx: dict, *, per_client: int) -> None:
    from bench import load

    partner, key = ctx["partners"][0], ctx["keys"][0]
    deep = ctx["deep_cursor"]
    pages = [
        "/orders/",
        "/orders/?status=paid",
        f"/orders/?city={ctx['almaty']}",
        f"/orders/?created_from={ctx['month_ago']}",
        f"/orders/?cursor={deep}",
        f"/orders/?status=paid&cursor={deep}",
    ]
    apis = [
        "/api/v1/orders/",
        "/api/v1/orders/?status=paid",
        "/api/v1/orders/?city=Алматы",
        f"/api/v1/orders/?updated_since={ctx['month_ago']}T00:00:00%2B05:00",
        f"/api/v1/orders/?cursor={deep}",
    ]
    # a user waiting for a page: one request at a time (the concurrency benchmarks are the API and tracking)
    partner_client = load.login(BASE, ctx["users"][0], PASSWORD)
    shape = _table_shape(partner_client.get(f"{BASE}/orders/", timeout=30).text)
    page_sample = _latency([partner_client], pages, per_client)
    staff_sample = _latency(
        [load.login(BASE, "volume_supervisor", PASSWORD, totp_key=SUPERVISOR_TOTP_KEY)], pages[:4], per_client
    )
    api_sample = _latency([load.session()], apis, per_client, headers={"Authorization": f"Api-Key {key}"})
    bare = _bare_page(ctx, shape, per_client)
    keyset = _keyset_ceiling(
        ctx,
        "SELECT * FROM orders_order WHERE partner_id = %s AND (created_at, id) < (now(), 9223372036854775807) "
        "ORDER BY created_at DESC, id DESC LIMIT 51",
        [partner],
    )
    pages_ms = round(max(page_sample.percentile(0.95), staff_sample.percentile(0.95)) * 1000, 1)
    api_ms = round(api_sample.percentile(0.95) * 1000, 1)
    bare_ms = bare.summary()["p95_ms"]
    report.add(
        "order_lists",
        f"order list (page and API), first and deep pages, filters, {ctx['orders']:,} orders, p95",
        max(pages_ms, api_ms),
        "ms",
        "",
        not page_sample.errors and not staff_sample.errors and not api_sample.errors,
        bare_ms,
        f"bare page ceiling: {shape[0]} rows × {shape[1]} cells from memory through the same base template, "
        "middleware and login, p95, ms",
        pct(bare_ms, max(pages_ms, api_ms)),
        ratios={"pages": Ratio(pages_ms, bare_ms, times=2), "API": Ratio(api_ms, bare_ms, times=2)},
        pages_p95_ms=pages_ms,
        api_p95_ms=api_ms,
        bare_page=bare.summary(),
        bare_page_shape=shape,
        keyset_query_p95_ms=keyset,
        partner_pages=page_sample.summary(),
        staff_pages=staff_sample.summary(),
        api=api_sample.summary(),
        partner_orders=ctx["partner_orders"],
    )


def bench_stock(report: Report, ctx: dict, *, per_client: int) -> None:
    from bench import load

    key = ctx["keys"][0]
    client = load.login(BASE, ctx["users"][0], PASSWORD)
    shape = _table_shape(client.get(f"{BASE}/warehouses/stock/", timeout=30).text)
    pages = _latency([client], ["/warehouses/stock/"], per_client)
    api = _latency(
        [load.session()],
        ["/api/v1/stock/"],
        per_client,
        headers={"Authorization": f"Api-Key {key}"},
    )
    bare = _bare_page(ctx, shape, per_client)
    aggregate = _keyset_ceiling(
        ctx,
        "SELECT product_id, warehouse_id, place, sum(quantity) FROM warehouses_stockbalance "
        "WHERE partner_id = %s AND quantity > 0 GROUP BY 1, 2, 3",
        [ctx["partners"][0]],
    )
    page_ms = round(pages.percentile(0.95) * 1000, 1)
    api_ms = round(api.percentile(0.95) * 1000, 1)
    bare_ms = bare.summary()["p95_ms"]
    report.add(
        "stock",
        f"stock across all cities for a partner, {ctx['stock_moves']:,} ledger entries, p95",
        max(page_ms, api_ms),
        "ms",
        "",
        not pages.errors and not api.errors,
        bare_ms,
        f"bare page ceiling: {shape[0]} rows × {shape[1]} cells from memory through the same base template, "
        "middleware and login, p95, ms",
        pct(bare_ms, max(page_ms, api_ms)),
        ratios={"page": Ratio(page_ms, bare_ms, times=2), "API": Ratio(api_ms, bare_ms, times=2)},
        page_p95_ms=page_ms,
        api_p95_ms=api_ms,
        bare_page=bare.summary(),
        bare_page_shape=shape,
        balances_aggregate_p95_ms=aggregate,
        page=pages.summary(),
        api=api.summary(),
    )


def bench_next_call(report: Report, ctx: dict, *, per_client: int) -> None:
    import psycopg

    from bench import load

    clients = [load.login(BASE, f"volume_logist_{n:02d}", PASSWORD) for n in range(1, 11)]
    for client in clients:
        client.token = load.csrf_of(client, f"{BASE}/callcenter/")
    conns = [psycopg.connect(ctx["bench_url"], autocommit=True) for _ in clients]

    def work(client, i, k):
        answer = client.post(
            f"{BASE}/callcenter/next/",
            data={"csrfmiddlewaretoken": client.token},
            headers={"Referer": f"{BASE}/callcenter/"},
            allow_redirects=False,
            timeout=30,
        )
        location = answer.headers.get("Location", "")
        order_id = int(location.rstrip("/").rsplit("/", 1)[-1]) if "/call/" in location else None
        if order_id:  # the logist calls, nobody answers: due again in four hours, claim done (not timed)
            conns[i].execute(
                "UPDATE callcenter_callstate SET next_call_at = now() + interval '4 hours' WHERE order_id = %s",
                [order_id],
            )
            conns[i].execute("DELETE FROM callcenter_callclaim WHERE order_id = %s", [order_id])
        answer.order_id = order_id
        return answer

    # only the GET is timed: the bookkeeping after it runs in the same thread but outside the measurement
    sample = load.run(clients, work, per_client=per_client, ok=lambda r: r.status_code == 302, warmup=1)
    for conn in conns:
        conn.close()
    taken = [r.order_id for r in sample.results if r.order_id]
    duplicates = len(taken) - len(set(taken))
    ping = _latency([load.session() for _ in range(10)], ["/bench/ping/"], per_client)
    s = sample.summary()
    report.add(
        "next_call",
        "logist «next call» with 10 logists pulling at once, p95",
        s["p95_ms"],
        "ms",
        "zero duplicates",
        duplicates == 0 and len(taken) == len(sample.results),
        ping.summary()["p95_ms"],
        "bare DRF endpoint p95 at 10 clients, ms",
        pct(ping.summary()["p95_ms"], s["p95_ms"]),
        ratios={"p95": Ratio(s["p95_ms"], ping.summary()["p95_ms"], times=2.5)},
        duplicates=duplicates,
        orders_taken=len(taken),
        **s,
    )


def bench_tracking(report: Report, ctx: dict, *, per_client: int) -> None:
    from bench import load

    pairs = ctx["tracking"]
    clients = []
    for n in range(50):
        client = load.session()
        client.headers["X-Real-IP"] = (
            f"10.0.{n // 250}.{n % 250 + 1}"  # 50 customers, as the proxy reports them
        )
        client.token = load.csrf_of(client, f"{BASE}/track/")
        clients.append(client)

    def work(client, i, k):
        number, digits = pairs[(i * per_client + k) % len(pairs)]
        return client.post(
            f"{BASE}/track/",
            data={"csrfmiddlewaretoken": client.token, "number": number, "last_digits": digits},
            headers={"Referer": f"{BASE}/track/"},
            timeout=30,
        )

    def found(answer) -> bool:
        return answer.status_code == 200 and "timeline" in answer.text

    # 50 customers on the page at once, each looking up an order every second; then as fast as they can
    sample = load.run(clients, work, per_client=per_client, ok=found, interval=1.0, warmup=1)
    saturated = load.run(clients, work, per_client=per_client, ok=found)
    ping = load.run(
        [load.session() for _ in range(50)],
        lambda c, i, k: c.get(f"{BASE}/bench/ping/", timeout=30),
        per_client=per_client,
        interval=1.0,
        warmup=1,
    )
    s, p = sample.summary(), ping.summary()
    report.add(
        "tracking",
        "public tracking page, 50 concurrent clients (a lookup a second each), p95",
        s["p95_ms"],
        "ms",
        "p95 ≤ 30 ms",
        s["p95_ms"] <= 30 and not sample.errors,
        p["p95_ms"],
        "bare DRF endpoint p95, the same 50 clients, ms",
        pct(p["p95_ms"], s["p95_ms"]),
        ratios={"p95": Ratio(s["p95_ms"], p["p95_ms"], shows="times")},
        saturated=saturated.summary(),
        **s,
    )


def bench_broker(report: Report, env: dict) -> None:
    redis_url = env["REDIS_URL"]
    parts = urlsplit(redis_url)
    ceiling = None
    with contextlib.suppress(FileNotFoundError, subprocess.CalledProcessError):
        out = subprocess.run(
            ["redis-benchmark", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379), "-q",
             "-n", "50000", "-t", "lpush"],
            check=True, text=True, capture_output=True, timeout=120,
        ).stdout  # fmt: skip
        found = re.findall(r"LPUSH:\s*([\d.]+) requests per second", out.replace("\r", "\n"))
        ceiling = float(found[-1]) if found else None
    import redis
    from celery import Celery

    scratch = f"{parts.scheme}://{parts.netloc}/15"  # a database of its own, emptied afterwards
    app = Celery("bench", broker=scratch)
    count = 5000
    started = time.perf_counter()
    for _n in range(count):
        app.send_task(
            "ketlogistic.core.tasks.heartbeat", args=[], queue="bench", kwargs={}, ignore_result=True
        )
    seconds = time.perf_counter() - started
    redis.Redis.from_url(scratch).flushdb()
    rate = round(count / seconds)
    report.add(
        "broker",
        "Celery task enqueue to the Redis broker (one client)",
        rate,
        "tasks/s",
        "informational (the ceiling of the queue)",
        True,
        ceiling,
        "redis-benchmark LPUSH, requests/s",
        pct(rate, ceiling) if ceiling else None,
        ratios={"rate": Ratio(rate, ceiling, shows="share")},
    )


def bench_sms(report: Report) -> None:
    """The registry evening's SMS through the SMPP double (bench/sms.py): in a process of its own, as Django's."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.sms"],
        cwd=ROOT,
        env=os.environ,
        check=True,
        text=True,
        capture_output=True,
    ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    rate, ceiling = figures["rate"], figures["ceiling"]
    report.add(
        "sms_smpp",
        f"{figures['count']:,} SMS through the SMPP double, window {figures['window']}, "
        f"{figures['latency_ms']:g} ms round trip",
        rate,
        "SMS/s",
        "≥ 200 SMS/s, nothing lost",
        rate >= 200 and figures["windowed"]["received_by_the_double"] == figures["windowed"]["sent"],
        ceiling,
        "a raw-socket client with pre-encoded submit_sm through the same window, SMS/s",
        pct(rate, ceiling),
        ratios={"rate": Ratio(rate, ceiling, shows="share")},
        # the figures' own "ceiling" and "rate" are the row's value and ceiling (as keywords they named the row's
        # arguments twice: the run stopped here)
        **{name: value for name, value in figures.items() if name not in ("rate", "ceiling")},
    )


# -- set-up -----------------------------------------------------------------------------------------------------------


def context(orders: int) -> dict:
    """Everything the benchmarks need from the data: partners, keys, logins, cursors, tracking pairs."""
    from django.db import connection

    from geography.models import City
    from integrations.api_keys import api_key_create
    from ketlogistic.core.models import Partner, User
    from ketlogistic.core.pagination import encode_cursor
    from ketlogistic.core.roles import Role

    partners = list(Partner.objects.filter(name__startswith="Объём-").order_by("pk")[:4])
    users = {p.pk: User.objects.get(partner=p, username__startswith="volume_").username for p in partners}
    keys = [
        api_key_create(partner=p, name=f"bench {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}").key
        for p in partners
    ]
    if not User.objects.filter(username="volume_supervisor").exists():
        User.objects.create_user("volume_supervisor", password=PASSWORD, role=Role.SUPERVISOR)
    # a supervisor signs in with a second factor (ketlogistic/core/second_factor.py): the bench's own authenticator
    from django_otp.plugins.otp_totp.models import TOTPDevice

    supervisor = User.objects.get(username="volume_supervisor")
    if not TOTPDevice.objects.filter(user=supervisor, confirmed=True).exists():
        TOTPDevice.objects.create(
            user=supervisor, name="bench", key=SUPERVISOR_TOTP_KEY.hex(), confirmed=True
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT created_at, id FROM orders_order WHERE partner_id = %s ORDER BY created_at DESC, id DESC "
            "OFFSET (SELECT count(*) * 4 / 5 FROM orders_order WHERE partner_id = %s) LIMIT 1",
            [partners[0].pk, partners[0].pk],
        )
        deep_row = cursor.fetchone()
        cursor.execute(
            "SELECT o.id, ph.last_digits FROM orders_order o JOIN orders_orderphone ph ON ph.order_id = o.id "
            "WHERE o.partner_id = ANY(%s) ORDER BY o.id DESC LIMIT 2000",
            [[p.pk for p in partners]],
        )
        tracking = [(str(order_id), digits) for order_id, digits in cursor.fetchall()]
        cursor.execute("SELECT count(*) FROM orders_order WHERE partner_id = %s", [partners[0].pk])
        partner_orders = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM warehouses_stockmove")
        stock_moves = cursor.fetchone()[0]
    return {
        "orders": orders,
        "partners": [p.pk for p in partners],
        "users": [users[p.pk] for p in partners],
        "keys": keys,
        "skus": [
            list(p.products.filter(is_test=False).values_list("sku", flat=True)[:100]) for p in partners
        ],
        "cities": ["Алматы" if p.country == "KZ" else "Бишкек" for p in partners],
        "deep_cursor": encode_cursor(list(deep_row), "n"),
        "almaty": City.objects.get(name="Алматы").pk,
        "month_ago": (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=30)).isoformat(),
        "tracking": tracking,
        "partner_orders": partner_orders,
        "stock_moves": stock_moves,
    }


def ensure_volume(env: dict, orders: int) -> int:
    import psycopg

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        have = conn.execute(
            "SELECT count(*) FROM orders_order o JOIN core_partner p ON p.id = o.partner_id "
            "WHERE p.name LIKE 'Объём-%%'"
        ).fetchone()[0]
    if have < orders:
        say(f"generating {orders - have:,} orders (the data is kept for the next run)…")
        started = time.perf_counter()
        manage(env, "generate_volume", "--orders", str(orders - have))
        say(f"generated in {time.perf_counter() - started:.0f} s")
    return max(have, orders)


def machine() -> dict:
    import psutil
    import psycopg

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "postgresql": psycopg.connect(os.environ["DATABASE_URL"]).info.server_version,
    }


def write_results(report: Report, info: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    payload = {"date": stamp, **info, "benchmarks": report.rows}
    path = RESULTS / f"{stamp}.json"
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
    (RESULTS / "latest.json").write_text(path.read_text())
    update_benchmarks_md(payload)
    return path


def update_benchmarks_md(payload: dict) -> None:
    page = ROOT / "BENCHMARKS.md"
    text = page.read_text() if page.exists() else f"# Benchmarks\n\n{MARK_BEGIN}\n{MARK_END}\n"
    m = payload["machine"]
    lines = [
        MARK_BEGIN,
        f"Last run: {payload['date']} · {m['cores']} cores, {m['memory_gb']} GB, PostgreSQL "
        f"{m['postgresql']}, Python {m['python']} · data: {payload['volume']['orders']:,} orders of 50 partners "
        f"over 26 weeks, {payload['volume']['stock_moves']:,} stock ledger entries · `bench/results/{payload['date']}.json`",
        "",
        "| what | measured | ceiling (same run, same machine) | measured ÷ ceiling | target | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in payload["benchmarks"]:
        ceiling = f"{row['ceiling']} — {row['ceiling_what']}" if row["ceiling"] is not None else "—"
        ratio = row.get("ratio_text") or (
            f"{row['percent_of_ceiling']} % (informational)" if row["percent_of_ceiling"] is not None else "—"
        )
        lines.append(
            f"| {row['what']} | {row['value']} {row['unit']} | {ceiling} | {ratio} | {row['target']} "
            f"| {'yes' if row['met'] else '**no**'} |"
        )
    lines.append(MARK_END)
    start, end = text.index(MARK_BEGIN), text.index(MARK_END) + len(MARK_END)
    page.write_text(text[:start] + "\n".join(lines) + text[end:])


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.run")
    parser.add_argument("--orders", type=int, default=int(os.environ.get("BENCH_ORDERS", 1_000_000)))
    parser.add_argument("--week-orders", type=int, default=100_000, help="orders in the charge run's week")
    parser.add_argument("--quick", action="store_true", help="fewer requests per benchmark (a smoke run)")
    args = parser.parse_args()
    scale = 1 if not args.quick else 0.2
    configured = os.environ["DATABASE_URL"]
    bench_url = with_database(configured, database_name(configured) + "_bench")
    env = {**os.environ, "DATABASE_URL": bench_url, "DJANGO_SETTINGS_MODULE": "ketlogistic.settings.bench"}
    os.environ.update({"DATABASE_URL": bench_url, "DJANGO_SETTINGS_MODULE": "ketlogistic.settings.bench"})
    (ROOT / ".data").mkdir(exist_ok=True)
    import psycopg

    with psycopg.connect(with_database(configured, "postgres"), autocommit=True) as conn:
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database_name(bench_url)]
        ).fetchone():
            conn.execute(f'CREATE DATABASE "{database_name(bench_url)}"')
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "load_reference_data", capture=True)
    use_round_the_clock_calendar(env)  # «next call» pulls customers at any hour the benchmark runs
    manage(env, "compile_translations", capture=True)
    orders = ensure_volume(env, args.orders)
    report = Report()
    say("the weekly charge run (in a copy of the data)…")
    bench_charge_run(report, env, bench_url, args.week_orders)
    say("a statement and a balance over five years of a partner's entries…")
    bench_ledger(report, env)

    import django

    django.setup()
    ctx = context(orders)
    ctx["bench_url"] = bench_url
    from django.db import connections

    connections.close_all()
    gunicorn = start_gunicorn(env)
    memory = {}
    try:
        bench_intake(report, ctx, calls_per_client=max(2, int(5 * scale)))
        bench_single_post(report, ctx, per_client=max(20, int(100 * scale)))
        bench_excel(report, ctx, gunicorn, env)
        for round_number in (1, 2):  # twice: the second pass shows whether the workers' memory grows
            if round_number == 2:
                kept = report.rows
                report.rows = []
            bench_order_lists(report, ctx, per_client=max(10, int(40 * scale)))
            bench_stock(report, ctx, per_client=max(10, int(40 * scale)))
            bench_next_call(report, ctx, per_client=max(10, int(30 * scale)))
            bench_tracking(report, ctx, per_client=max(5, int(20 * scale)))
            memory[round_number] = worker_memory(gunicorn)
            say(f"web workers after pass {round_number}: {memory[round_number]}")
        report.rows = kept  # the first pass's figures; the second only measured memory growth
        rss = max(memory[2]["rss_mb"])
        growth = round(max(memory[2]["rss_mb"]) - max(memory[1]["rss_mb"]), 1)
        report.add(
            "memory",
            "web worker memory after the whole benchmark (RSS of the largest worker)",
            rss,
            "MB",
            "≤ 250 MB RSS, no growth between repeated runs",
            rss <= 250 and growth <= 10,
            None,
            "",
            None,
            growth_mb_between_passes=growth,
            after_pass=memory,
        )
    finally:
        gunicorn.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            gunicorn.wait(15)
    from bench.replica import bench_replica

    # the read-only pages without and with a read replica: its own gunicorn each time
    bench_replica(report, ctx, env, per_client=max(10, int(30 * scale)))
    bench_broker(report, env)
    bench_sms(report)
    info = {"machine": machine(), "volume": {"orders": orders, "stock_moves": ctx["stock_moves"]}}
    path = write_results(report, info)
    say(f"results: {path.relative_to(ROOT)}; table updated in BENCHMARKS.md")
    missed = [row["key"] for row in report.rows if not row["met"]]
    if missed:
        say(f"targets missed: {', '.join(missed)} (see BENCHMARKS.md for the profile and the next step)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
