"""django-q2 under faults: the scheduler's connection dies (a PostgreSQL restart), and queued
jobs live in the database (the ORM broker), not in a Redis that forgets them."""

import datetime

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.faults]


def _kill_my_backend():
    """What a PostgreSQL restart does to a kept connection: the server side is gone."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    db = connection.settings_dict
    dsn = f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_the_scheduler_runs_its_tick_after_the_database_connection_died():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL")
    from django_q.brokers import get_broker
    from django_q.models import OrmQ, Schedule
    from django_q.scheduler import scheduler

    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"]
    Schedule.objects.create(
        name="fault-tick",
        func="encompass.tasks.worker_heartbeat",
        schedule_type=Schedule.MINUTES,
        minutes=1,
        next_run=timezone.now() - datetime.timedelta(seconds=5),
    )
    _kill_my_backend()
    scheduler(broker=get_broker())
    assert OrmQ.objects.count() == 1, "the tick was skipped (stale connection)"
    assert Schedule.objects.get(name="fault-tick").next_run > timezone.now()


def test_queued_jobs_are_rows_in_the_database():
    """Nothing queued lives only in Redis: the broker is the ORM one, acknowledged after the
    result is saved, failures acknowledged and recorded."""
    from django_q.brokers import get_broker
    from django_q.brokers.orm import ORM
    from django_q.tasks import async_task

    assert isinstance(get_broker(), ORM)
    assert settings.Q_CLUSTER["ack_failures"] is True
    assert settings.Q_CLUSTER["retry"] > settings.Q_CLUSTER["timeout"]
    async_task("encompass.tasks.worker_heartbeat", task_name="fault-queued")
    from django_q.models import OrmQ

    assert OrmQ.objects.filter(key=settings.Q_CLUSTER["name"]).count() == 1
