"""When an event row becomes visible, and how readers that follow the table never skip one.

An event's id is taken from a sequence when it is inserted, but the row becomes visible when its
transaction commits. On PostgreSQL, with many writers, a transaction that took id 95 can commit
after one that took id 100: a reader that remembered "100" and asks for ``id > 100`` never sees
95. (On SQLite, the embedded default, there is one writer at a time and ids become visible in
order, so following by id is exact there.)

So on PostgreSQL every event row also records, as database defaults (nothing to pass in; bulk
inserts get them too):

``txid``
    ``pg_current_xact_id()``: the top-level transaction that inserted it.
``horizon``
    ``pg_snapshot_xmin(pg_current_snapshot())`` at insert: every transaction older than this had
    finished when the row was written. A transaction still running then (one that might have
    taken a lower id and commit later) has ``txid >= horizon``.

Readers use them so:

* **Followers** (the webhook fan-out) keep a position in ``(txid, id)`` order. Before reading,
  they take the current snapshot's ``xmin`` (:func:`snapshot_xmin`): every transaction below it
  has ended, so the rows with ``txid < xmin`` are final -- none can appear later. The position
  only moves past final rows; rows of transactions at or above ``xmin`` that are already visible
  are handled at once and read again next time (the follower must be idempotent). A long-open
  transaction therefore delays the position, never skips a row.
* **Replay** from a client's last seen id ``S`` (websockets) adds to ``id > S`` the rows with
  ``S - window < id <= S``, ``txid >= horizon(S)`` and another transaction than ``S``'s: the
  only rows below ``S`` that can have become visible after ``S`` did (a few that did not come
  too; the client ignores ids it already has).
"""

from django.db import connection
from django.db.models import BigIntegerField, Func, Q


class CurrentTransactionId(Func):
    """The inserting transaction's id (xid8 as bigint) on PostgreSQL; NULL elsewhere."""

    output_field = BigIntegerField()

    def __init__(self):
        super().__init__()

    def as_sql(self, compiler, connection, **extra):
        return "NULL", []

    def as_postgresql(self, compiler, connection, **extra):
        return "(pg_current_xact_id()::text::bigint)", []


class SnapshotHorizon(Func):
    """The oldest transaction still running when the row was written (xid8 as bigint) on
    PostgreSQL; NULL elsewhere."""

    output_field = BigIntegerField()

    def __init__(self):
        super().__init__()

    def as_sql(self, compiler, connection, **extra):
        return "NULL", []

    def as_postgresql(self, compiler, connection, **extra):
        return "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint)", []


def tracks_transactions(using=None):
    """True where ids can become visible out of order and rows carry ``txid``/``horizon``."""
    return connection.vendor == "postgresql"


def snapshot_xmin():
    """Every transaction with an id below this has ended (PostgreSQL only)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        return cursor.fetchone()[0]


def late_condition(since, window):
    """Besides ``id > since``, the rows a replay from ``since`` must read on PostgreSQL: those
    just below it that may have committed after it (see the module docstring); None when there
    are none to look for."""
    from .models import Event

    if not since or not tracks_transactions():
        return None
    mark = (
        Event.objects.filter(id__lte=since, id__gt=since - window, horizon__isnull=False)
        .order_by("-id")
        .values_list("horizon", "txid")
        .first()
    )
    if mark is None:
        return None
    horizon, own = mark
    # Rows of the mark's own transaction became visible with it (and were pushed before it).
    return Q(id__gt=since - window, id__lte=since, txid__gte=horizon) & ~Q(txid=own)
