"""The product's URLs plus the ceilings of `make bench`, under the same gunicorn:

* `bench/ping/`: a bare DRF endpoint, the ceiling of an API request (no authentication, no database, no
  middleware work beyond what every request pays);
* `bench/page/?rows=R&cols=C`: the bare page ceiling, the ceiling of a list page: R rows of C cells made in memory,
  rendered through the same base template (menu, notices, language switch), middleware and login as the product's
  pages; no query beyond what every page of a logged-in user makes (the session, the user, the menu's)."""

import functools

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.template import engines
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


class Ping(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        return Response({"ok": True, "size": len(request.body)}, status=201)


PAGE = """{% extends "base.html" %}
{% block title %}Bench{% endblock %}
{% block content %}
<div class="page-head"><h1>Bench</h1></div>
<div class="table-wrap"><table data-testid="bench">
  <thead><tr>{% for title in head %}<th>{{ title }}</th>{% endfor %}</tr></thead>
  <tbody>
  {% for row in rows %}
    <tr><td><a href="/bench/page/?row={{ row.0 }}">{{ row.0 }}</a></td>{% for cell in row.1 %}<td>{{ cell }}</td>{% endfor %}</tr>
  {% endfor %}
  </tbody>
</table></div>
{% endblock %}"""
MAX_ROWS, MAX_COLS = 2000, 100


@functools.cache
def _template():
    """Compiled once per process, as the product's templates are (the cached loader)."""
    return engines["django"].from_string(PAGE)


def _number(request, name: str, default: int, largest: int) -> int:
    value = request.GET.get(name, "")
    return min(int(value), largest) if value.isdigit() and int(value) > 0 else default


@login_required
def bare_page(request):
    rows = _number(request, "rows", 50, MAX_ROWS)
    cols = _number(request, "cols", 7, MAX_COLS)
    data = {
        "head": [f"Column {c}" for c in range(cols)],
        "rows": [(r, [f"Cell {r}·{c} — значение" for c in range(1, cols)]) for r in range(rows)],
    }
    return HttpResponse(_template().render(data, request))


urlpatterns = [
    path("bench/ping/", Ping.as_view()),
    path("bench/page/", bare_page),
    path("", include("ketlogistic.urls")),
]
