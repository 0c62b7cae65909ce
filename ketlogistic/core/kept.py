"""Reference data each process keeps in its memory: read from the database once, not on every request.

The city directory every order is checked against is read by every order intake and every API list filtered by a
city; it changes a few times a year (the reference list, the admin). A `Kept` value is read at most once per
`REFERENCE_CACHE_SECONDS` in each process (None: until it is changed), and a change (`reference_changed()`, called
by every path that writes the geography: its admin and `load_geography`; and by tests before each test) makes this
process read every kept value again at once, and again when the change commits: a read in between saw the rows as
they were. Other processes see a change within `REFERENCE_CACHE_SECONDS`, as they do the working calendars
(`ketlogistic.core.calendar`, kept the same way and forgotten by the same kind of explicit call, not by signals:
`ketlogistic/wiring.py` lists everything a change sets off).

Kept in the process rather than in Redis: a frozen Redis must not hold up intake, while a process's own memory
cannot fail. A kept value is shared by every thread of the process: it must be treated as read-only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

from django.conf import settings
from django.db import transaction

T = TypeVar("T")

_everything: list[Kept] = []


class Kept(Generic[T]):
    def __init__(self, load: Callable[[], T]) -> None:
        self._load = load
        self._kept: tuple[float, T] | None = None  # (when it was read, on the monotonic clock; the value)
        self._generation = 0
        _everything.append(self)

    def get(self) -> T:
        lifetime = settings.REFERENCE_CACHE_SECONDS
        read_at = time.monotonic()
        kept = self._kept
        if kept is not None and (lifetime is None or read_at - kept[0] < lifetime):
            return kept[1]
        generation = self._generation
        value = self._load()
        if generation == self._generation:  # not changed while it was read: the next caller may have it
            self._kept = (read_at, value)
        return value

    def _forget(self) -> None:
        self._generation += 1
        self._kept = None


def forget_everything() -> None:
    """Every kept value read again on its next `get` (tests, before each test: the previous test's rows were rolled
    back)."""
    for kept in _everything:
        kept._forget()


def reference_changed() -> None:
    """The reference data was written (a city, a warehouse): every kept value is read again on its next `get`, and
    again once the current transaction commits."""
    forget_everything()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(forget_everything)
