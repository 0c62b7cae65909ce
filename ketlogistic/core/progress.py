"""What a progress bar shows of long work a worker does (an Excel file checked or imported, a large export).

The page includes `includes/progress.html`, whose body (`includes/progress_body.html`) htmx asks for again every
second at `poll_url` while the work goes on: the rest of the page and of the site stays usable meanwhile. Without
JavaScript the body's «Refresh» link reloads the page. Work with no sign of life for a while (a worker restarted, a
task never sent) says so instead (`stalled`) and offers to try again (`retry_url`)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections, transaction
from django.db.models import QuerySet


@dataclass(frozen=True)
class Progress:
    key: str  # the element's id on the page
    label: str  # what is being done: «Reading the file»
    done: int
    total: int  # 0: not known yet
    unit: str  # what is counted: "rows" or "orders"
    page_url: str  # the page itself (the «Refresh» link)
    poll_url: str | None = None  # the body's address while the page should ask again
    step: int | None = None  # «step 1 of 2» of work done in steps
    steps: int | None = None
    stalled: str = ""  # why the work seems stopped and what to do
    retry_url: str | None = None

    @property
    def percent(self) -> int:
        """Whole percents done, never 100 before the end."""
        if not self.total:
            return 0
        if self.done >= self.total:
            return 100
        return min(99, 100 * self.done // self.total)


def progress_write(queryset: QuerySet, **fields) -> int:
    """Write long work's progress on its row (`queryset.update(**fields)`: the rows updated) in a transaction of its
    own, committed without waiting for the disk (`synchronous_commit` off): the work writes it often, the page reads
    it at once, and a progress lost with a crashed server is only shown again a moment later."""
    with transaction.atomic(using=queryset.db):
        with connections[queryset.db].cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        return queryset.update(**fields)
