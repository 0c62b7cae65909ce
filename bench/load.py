"""HTTP load from threads with keep-alive sessions, and the statistics the report needs."""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    results: list = field(default_factory=list)

    def percentile(self, share: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]

    def summary(self) -> dict:
        return {
            "requests": len(self.latencies),
            "p50_ms": round(self.percentile(0.50) * 1000, 1),
            "p95_ms": round(self.percentile(0.95) * 1000, 1),
            "p99_ms": round(self.percentile(0.99) * 1000, 1),
            "rps": round(len(self.latencies) / self.elapsed, 1) if self.elapsed else 0.0,
            "statuses": dict(self.statuses),
            "errors": self.errors[:5],
        }


def session() -> requests.Session:
    s = requests.Session()
    s.headers["User-Agent"] = "ketlogistic-bench"
    return s


def login(base: str, username: str, password: str, *, totp_key: bytes | None = None) -> requests.Session:
    """A logged-in session; a login with a second factor (`totp_key`, its authenticator's key) gives its code too."""
    s = session()
    page = s.get(f"{base}/accounts/login/", timeout=30)
    token = CSRF.search(page.text).group(1)
    answer = s.post(
        f"{base}/accounts/login/",
        data={"csrfmiddlewaretoken": token, "username": username, "password": password},
        headers={"Referer": f"{base}/accounts/login/"},
        allow_redirects=False,
        timeout=30,
    )
    if answer.status_code != 302:
        raise RuntimeError(f"could not log in as {username}: {answer.status_code}")
    if "/accounts/second-factor/verify/" in answer.headers.get("Location", "") and totp_key is not None:
        from django_otp.oath import totp

        verify = f"{base}/accounts/second-factor/verify/"
        token = CSRF.search(s.get(verify, timeout=30).text).group(1)
        for step in (0, 1):  # this step's code, or the next one's when this one signed the login in already
            answer = s.post(
                verify,
                data={"csrfmiddlewaretoken": token, "code": f"{totp(totp_key, drift=step):06d}"},
                headers={"Referer": verify},
                allow_redirects=False,
                timeout=30,
            )
            if answer.status_code == 302:
                break
        else:
            raise RuntimeError(f"could not give the second factor of {username}")
    return s


def csrf_of(s: requests.Session, url: str) -> str:
    return CSRF.search(s.get(url, timeout=30).text).group(1)


def run(
    clients: list,
    work: Callable[[object, int, int], requests.Response | object],
    *,
    per_client: int,
    ok: Callable[[object], bool] = lambda r: getattr(r, "status_code", 200) < 400,
    interval: float | None = None,
    warmup: int = 0,
) -> Sample:
    """Each client (a session) in its own thread makes `per_client` calls of `work(client, thread, k)`; all
    threads start together. Latency is measured around each call. Without `interval` each client sends its next
    request as soon as the last one answers (a closed loop: the server's saturation); with it, each client sends
    one every `interval` seconds, spread evenly (people using the system at a steady pace). `warmup` calls per
    client go first, unmeasured: each worker process compiles its templates and code paths on first use."""
    sample = Sample()
    lock = threading.Lock()
    barrier = threading.Barrier(len(clients) + 1)

    def worker(index: int, client) -> None:
        latencies, statuses, errors, results = [], Counter(), [], []
        for k in range(warmup):
            try:
                work(client, index, -1 - k)
            except Exception:  # noqa: BLE001, S110 - a warm-up answer is not a result
                pass
        barrier.wait()
        begin = time.perf_counter() + (interval * index / len(clients) if interval else 0)
        for k in range(per_client):
            if interval:
                delay = begin + k * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)  # the client's pace, outside the measured latency
            started = time.perf_counter()
            try:
                answer = work(client, index, k)
            except Exception as exc:  # a failed request is a result, not a crash of the benchmark
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                statuses["exception"] += 1
                continue
            latencies.append(time.perf_counter() - started)
            status = getattr(answer, "status_code", 200)
            statuses[status] += 1
            if not ok(answer):
                errors.append(f"{status}: {getattr(answer, 'text', answer)!s}"[:200])
            results.append(answer)
        with lock:
            sample.latencies += latencies
            sample.statuses.update(statuses)
            sample.errors += errors
            sample.results += results

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    sample.elapsed = time.perf_counter() - started
    return sample


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
