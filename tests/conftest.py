"""Shared fixtures. The suite runs against real PostgreSQL and Redis (``make test`` sets
DATABASE_URL and REDIS_URL); see docs/testing.md."""

import pytest

from encompass.testing.world import build_world


def pytest_collection_modifyitems(config, items):
    """Browser tests run last: while the session's browser is alive, Django's async-safety check
    is lifted (see tests/e2e/conftest.py), and no other test should run under that."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(scope="session", autouse=True)
def _close_other_threads_connections(django_db_setup):
    """Close, before the test databases are dropped, the connections other threads opened.

    Django keeps one connection per thread. Threads that outlive their test -- asgiref's
    executor behind ``database_sync_to_async`` (websocket consumers, the event hub) or helper
    threads -- keep theirs open, and PostgreSQL refuses to drop a database with sessions on it
    ("is being accessed by other users"). This fixture depends on ``django_db_setup``, so it is
    torn down first, and closes every such connection (the raw driver connection: Django's own
    ``close()`` may only be called from the owning thread).
    """
    import threading
    import weakref

    from django.db.backends.signals import connection_created

    opened = []

    def remember(sender, connection, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            opened.append(weakref.ref(connection))

    connection_created.connect(remember, weak=False)
    yield
    connection_created.disconnect(remember)
    for ref in opened:
        wrapper = ref()
        raw = getattr(wrapper, "connection", None)
        if raw is not None and not getattr(raw, "closed", False):
            raw.close()
