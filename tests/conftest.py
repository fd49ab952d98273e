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
