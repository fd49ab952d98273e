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


def _cluster(env):
    import os
    import subprocess
    import sys

    from encompass.testing.servers import ROOT, database_url

    child = {**os.environ, **env, "DATABASE_URL": database_url(connection.settings_dict)}
    child.pop("TEST_DATABASE_NAME", None)
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=child,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: killed whole, as a host would
    )


def _wait(predicate, timeout=60.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_a_job_killed_with_sigkill_is_recorded_and_retried_to_completion():
    import os
    import signal

    from django_q.models import OrmQ
    from django_q.tasks import async_task

    from encompass.events.models import JobAttempt, WorkerHeartbeat
    from encompass.jobs import sweep_interrupted

    from .conftest import report

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL")
    env = {"ENCOMPASS_Q_TIMEOUT": "20", "ENCOMPASS_Q_RETRY": "25", "ENCOMPASS_Q_WORKERS": "1"}
    async_task("tests.faults.jobs.slow_mark", "fault-job", 4, task_name="fault-sleeper")
    cluster = _cluster(env)
    try:
        assert _wait(lambda: JobAttempt.objects.filter(state="running").exists())
        os.killpg(cluster.pid, signal.SIGKILL)  # the whole cluster, mid-job
        cluster.wait(10)
        attempt = JobAttempt.objects.get()
        assert attempt.state == "running" and attempt.attempts == 1
        assert OrmQ.objects.count() == 1, "the queued job is still there (not acknowledged)"
        assert not WorkerHeartbeat.objects.filter(name="fault-job").exists()
        assert sweep_interrupted(grace=0) == (1, 0)
        assert JobAttempt.objects.get().state == "interrupted"  # the failed-run record
        cluster = _cluster(env)
        done = _wait(lambda: JobAttempt.objects.get().state == "succeeded", timeout=90)
        assert done, list(JobAttempt.objects.values()) + list(OrmQ.objects.values("id", "lock"))
        assert _wait(lambda: not OrmQ.objects.exists(), timeout=10)  # acknowledged after
    finally:
        if cluster.poll() is None:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait(30)
    attempt = JobAttempt.objects.get()
    report(
        "worker-sigkill",
        sent=1,
        attempts=attempt.attempts,
        stored=WorkerHeartbeat.objects.filter(name="fault-job").count(),
        duplicates=0,
    )
    assert attempt.attempts == 2
    assert WorkerHeartbeat.objects.filter(name="fault-job").count() == 1


def test_a_job_interrupted_too_often_is_dead_lettered():
    from django_q.models import OrmQ

    from encompass.events.models import JobAttempt
    from encompass.jobs import sweep_interrupted

    row = OrmQ.objects.create(key="encompass", payload="x", lock=timezone.now())
    JobAttempt.objects.create(
        task_id="t-dead",
        name="killer",
        func="tests.faults.jobs.slow_mark",
        queue_id=row.pk,
        attempts=settings.Q_CLUSTER["max_attempts"],
        state="running",
        started_at=timezone.now() - datetime.timedelta(hours=1),
    )
    assert sweep_interrupted() == (0, 1)
    dead = JobAttempt.objects.get()
    assert dead.state == "dead" and "Interrupted 3 times" in dead.error
    assert not OrmQ.objects.filter(pk=row.pk).exists()
