"""The database's guard of an order's money and data, seen from Python.

Triggers (orders migration 0010) refuse any change of an order's sum, address, delivery dates, the partner's
figures and what never changes after intake, and any write of its items, unless the write comes through its door:
the intake writes items through the door "intake" (only for orders its own transaction created), the amendment
service (`orders.amendments`) changes an order through the door "amendment", the workflow (`orders.workflow`) sets
or clears the agreed date through the door "workflow", in the same UPDATE as the status. One more door is
recognised by the trigger from the write itself: the retention task blanks the personal data as it stamps the
erasure. Anything else — a forgotten `.update()`, a form saving a model, the Django admin, raw SQL — is refused.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connection, transaction

SETTING = "ketlogistic.order_door"
DOORS = frozenset({"intake", "amendment", "workflow"})


@contextmanager
def order_door(door: str, *, savepoint: bool = True):
    """Open a door for the writes inside, and only for them.

    The setting is transaction-local and set inside a savepoint: when a write inside fails, rolling the savepoint
    back closes the door too; when all goes well it is closed explicitly, so later writes of the same transaction
    meet the guard again. `savepoint=False` (the intake, whose transaction never goes on after a failed write): no
    savepoint, two round trips fewer; a write that fails inside then leaves the whole transaction unusable until it
    is rolled back (Django refuses every further query in it), so the open door can serve nothing.
    """
    if door not in DOORS:
        raise ValueError(f"Unknown door {door!r}")
    with transaction.atomic(savepoint=savepoint):
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, true)", [SETTING, door])
        yield
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, '', true)", [SETTING])
