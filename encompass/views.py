"""Liveness and readiness probes."""

import datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

WORKER_STALE_AFTER = datetime.timedelta(minutes=3)


@never_cache
def healthz(request):
    """The process is up and serving."""
    return JsonResponse({"status": "ok"})


def _check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_channel_layer():
    layer = get_channel_layer()
    name = async_to_sync(layer.new_channel)()
    async_to_sync(layer.send)(name, {"type": "readyz.ping"})
    message = async_to_sync(layer.receive)(name)
    if message.get("type") != "readyz.ping":
        raise RuntimeError("channel layer returned the wrong message")
    return "ok"


def _check_worker():
    from encompass.events.models import WorkerHeartbeat

    beat = WorkerHeartbeat.objects.filter(name="default").first()
    if beat is None:
        raise RuntimeError("no worker heartbeat yet")
    age = timezone.now() - beat.beat_at
    if age > WORKER_STALE_AFTER:
        raise RuntimeError(f"last worker heartbeat {int(age.total_seconds())} s ago")
    return "ok"


def _check_key_store():
    from devices.identity.keystore import get_key_store

    store = get_key_store()
    if hasattr(store, "check"):
        store.check()
    return "ok"


@never_cache
def readyz(request):
    """Database, channel layer, background worker and CA key store all answer; 503 otherwise."""
    checks = {}
    ok = True
    for name, check in (
        ("database", _check_database),
        ("channel_layer", _check_channel_layer),
        ("worker", _check_worker),
        ("key_store", _check_key_store),
    ):
        try:
            checks[name] = check()
        except Exception as exc:  # a readiness probe reports, it does not raise
            checks[name] = f"failing: {exc}"
            ok = False
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )
