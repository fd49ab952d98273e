"""Shared fixtures. The suite runs against real PostgreSQL and Redis (``make test`` sets
DATABASE_URL and REDIS_URL); see docs/testing.md."""

import pytest

from encompass.testing.world import build_world


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield
