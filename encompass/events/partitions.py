"""The event table partitioned by time on PostgreSQL, so retention drops whole days.

Layout (created by migration 0006; SQLite, the embedded default, keeps one plain table and
batched deletes)::

    events_event                      PARTITION BY LIST (kind)
      events_event_telemetry          device.telemetry, device.heartbeat; BY RANGE (received_at)
        events_event_telemetry_p20261203   one per UTC day
        events_event_telemetry_default     rows outside every day made so far
      events_event_log                device.log; BY RANGE (received_at), days as above
      events_event_other              every other kind (security, platform): one plain table

The bulk of the table (telemetry, heartbeats, logs) is what has short retention, so those are
cut in days; security and platform events are kept for a year or two, are few, and are purged
by batched deletes as before. The retention class is a function of ``kind``, so ``kind`` is the
first partition key and needs no new column.

Keys: the primary key is ``(id, kind, received_at)`` (PostgreSQL requires every unique
constraint of a partitioned table to include its partition keys; ``id`` alone still comes from
one sequence). Idempotent ingest does not rest on this table: the ``(device, event id)`` key is
``EventKey``'s primary key, written in the same statement as the event.

Upkeep (the hourly ``events.retention`` job, encompass/events/tasks.py): :func:`ensure_days`
creates the days ahead (``AHEAD_DAYS``) and moves any rows that landed in a default partition
into their day; :func:`droppable` / :func:`drop` remove the days past every organization's
retention for the class (encompass/events/retention.py).
"""

import datetime
import re

from django.db import connection, transaction

PARENT = "events_event"
# (partition, kinds) of the time-ranged classes; the retention class each belongs to.
RANGED = {
    "telemetry": ("events_event_telemetry", ("device.telemetry", "device.heartbeat")),
    "logs": ("events_event_log", ("device.log",)),
}
OTHER = "events_event_other"
AHEAD_DAYS = 7
# On conversion of an existing table, days are made for at most this far back; older rows go to
# the default partition (retention purges them by batched delete).
BACK_DAYS = 92
_DAY_RE = re.compile(r"_p(\d{8})$")
_NAME_RE = re.compile(r"^events_event_[a-z]+(_p\d{8}|_default)?$")


def _name(name):
    """A partition name fit to put in DDL: ours (constants, or pg_class rows matching them)."""
    if not _NAME_RE.match(name):
        raise ValueError(f"Not an event partition: {name!r}")
    return name


def is_partitioned(using=None):
    """True where the event table is partitioned (PostgreSQL after migration 0006)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [PARENT]
        )
        return cursor.fetchone() is not None


def day_name(parent, day):
    return f"{parent}_p{day:%Y%m%d}"


def _bounds(day):
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)
    return start, start + datetime.timedelta(days=1)


def days(cursor, parent):
    """``{day: partition name}`` of the day partitions of a ranged class."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass",
        [parent],
    )
    found = {}
    for (name,) in cursor.fetchall():
        match = _DAY_RE.search(name)
        if match:
            found[datetime.datetime.strptime(match.group(1), "%Y%m%d").date()] = name
    return found


def create_layout(cursor, parent_sql, first_day, last_day):
    """The LIST/RANGE partitions under an (empty, just created) partitioned ``parent_sql``."""
    for _cls, (table, kinds) in RANGED.items():
        values = ", ".join("'" + k + "'" for k in kinds)
        cursor.execute(
            f"CREATE TABLE {table} PARTITION OF {parent_sql} FOR VALUES IN ({values}) "
            "PARTITION BY RANGE (received_at)"
        )
        cursor.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        day = first_day
        while day <= last_day:
            start, end = _bounds(day)
            cursor.execute(
                f"CREATE TABLE {day_name(table, day)} PARTITION OF {table} "
                "FOR VALUES FROM (%s) TO (%s)",
                [start, end],
            )
            day += datetime.timedelta(days=1)
    cursor.execute(f"CREATE TABLE {OTHER} PARTITION OF {parent_sql} DEFAULT")


def _add_day(cursor, table, day):
    """Create one day's partition; rows of that day already in the default move into it."""
    name = _name(day_name(table, day))
    start, end = _bounds(day)
    default = _name(f"{table}_default")
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {default} WHERE received_at >= %s AND received_at < %s)",  # noqa: S608 -- _name
        [start, end],
    )
    (stranded,) = cursor.fetchone()
    if not stranded:
        cursor.execute(
            f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM (%s) TO (%s)", [start, end]
        )
        return 0
    # Attaching a range the default holds rows of is refused: move them in the same transaction,
    # with writers of this class held back (the parent first, as inserts lock it).
    cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
    cursor.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    move = (
        f"WITH moved AS (DELETE FROM {default} WHERE received_at >= %s AND received_at < %s "  # noqa: S608 -- _name
        f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"
    )
    cursor.execute(move, [start, end])
    moved = cursor.rowcount
    cursor.execute(
        f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [start, end]
    )
    return moved


def ensure_days(today=None, ahead=AHEAD_DAYS):
    """Create the day partitions from today to ``ahead`` days on (idempotent); the number of
    partitions created and of rows moved out of the defaults. Nothing to do off PostgreSQL."""
    if not is_partitioned():
        return {"created": 0, "moved": 0}
    today = today or datetime.datetime.now(datetime.UTC).date()
    created = moved = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for _cls, (table, _kinds) in RANGED.items():
            have = days(cursor, table)
            for offset in range(ahead + 1):
                day = today + datetime.timedelta(days=offset)
                if day not in have:
                    moved += _add_day(cursor, table, day)
                    created += 1
    return {"created": created, "moved": moved}


def droppable(cls, cutoff):
    """``[(day, partition)]`` of class ``cls`` whose whole day is before ``cutoff``."""
    if cls not in RANGED or not is_partitioned():
        return []
    with connection.cursor() as cursor:
        have = days(cursor, RANGED[cls][0])
    return sorted((d, n) for d, n in have.items() if _bounds(d)[1] <= cutoff)


def drop(name):
    """``{organization pk: rows}`` the partition held, then drop it (the space returns at once)."""
    # Nothing is written into a past day (received_at is the server's clock), so the count holds.
    name = _name(name)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT organization_id, count(*) FROM {name} GROUP BY organization_id")  # noqa: S608
        counts = dict(cursor.fetchall())
        cursor.execute(f"DROP TABLE {name}")
    return counts
