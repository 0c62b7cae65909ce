"""The request latency histogram, its middleware, and the `/metrics` answer.

With `PROMETHEUS_MULTIPROC_DIR` set (gunicorn with several workers: docker-compose, `make run`) every process
writes its observations into files in that directory, and a scrape, answered by whichever worker, adds up the
files of all of them (`prometheus_client.multiprocess`; gunicorn.conf.py empties the directory at start and marks
a dead worker's files). Without it a process keeps its own registry and a scrape shows that process alone.

The view label is the URL pattern's name (`orders:detail`), else its route (`t/<str:token>/`), never the path:
one series per view, whatever ids the paths carry. Requests no URL pattern answered are `<static>` (WhiteNoise's
files) or `<unresolved>` (an unknown path, a redirect to the URL with its slash, a request a middleware refused).
"""

import hmac
import logging
import os
from time import perf_counter

from django.conf import settings
from django.http import HttpResponse
from django.utils.translation import gettext
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Histogram, generate_latest

from .state import StateCollector

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
# seconds: our pages answer in tens of milliseconds, the heavy ones (exports, the charge run's page) in seconds
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.35, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUEST_SECONDS = Histogram(
    "ketlogistic_http_request_duration_seconds",
    "Seconds from a request entering the application to its response, by view (URL name or route), method and "
    "status code.",
    ["view", "method", "code"],
    buckets=BUCKETS,
)


def view_of(request) -> str:
    """The view's label: the URL's name with its namespace, else its route; bounded whatever the paths are."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name if match.url_name else (match.route or "<unnamed>")
    if request.path_info.startswith(settings.STATIC_URL):
        return "<static>"
    return "<unresolved>"


class RequestMetricsMiddleware:
    """First of the middleware: times everything under it, and answers `/metrics` before any of it runs (no
    session is read or saved, no CSRF or locale or login redirect applies, HTTPS redirects neither)."""

    def __init__(self, get_response):
        self.get_response = get_response
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            os.makedirs(directory, exist_ok=True)

    def __call__(self, request):
        started = perf_counter()
        if request.path_info == METRICS_PATH:
            response = metrics_response(request)
            view = "metrics"
        else:
            response = self.get_response(request)
            view = None
        try:
            method = request.method if request.method in METHODS else "other"
            REQUEST_SECONDS.labels(view or view_of(request), method, str(response.status_code)).observe(
                perf_counter() - started
            )
        except Exception:  # a metric must never fail the request it measures
            logger.exception("request metric not recorded")
        return response


def _bearer_token(request) -> str | None:
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def metrics_response(request) -> HttpResponse:
    """`GET /metrics` with `Authorization: Bearer <METRICS_TOKEN>`: 404 while no token is configured (never open),
    401 without the token or with another one; never a session or a login (a staff session opens nothing)."""
    expected = settings.METRICS_TOKEN
    if not expected:
        return _plain(gettext("Not found."), status=404)
    given = _bearer_token(request)
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        response = _plain(gettext("The metrics need their token: Authorization: Bearer <token>."), status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if request.method not in ("GET", "HEAD"):
        response = _plain(gettext("Only GET is allowed here."), status=405)
        response["Allow"] = "GET, HEAD"
        return response
    response = HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


def _plain(text: str, *, status: int) -> HttpResponse:
    response = HttpResponse(text + "\n", content_type="text/plain; charset=utf-8", status=status)
    response["Cache-Control"] = "no-store"
    return response


class _ThisProcess:
    """The process's own registry (single-process mode): the latency histogram and the process's figures."""

    def collect(self):
        return REGISTRY.collect()


def scrape_registry() -> CollectorRegistry:
    """What one scrape shows: every worker's observations (or this process's), then the gauges read now."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(StateCollector())
    return registry
