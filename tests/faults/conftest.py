"""The fault suite's fixtures: its own Redis (and PostgreSQL) processes, killed and restarted by
the tests; the scale (``ENCOMPASS_FAULTS=full`` under ``make test-faults``)."""

import os

import pytest

from .procs import RedisProcess

FULL = os.environ.get("ENCOMPASS_FAULTS", "") == "full"


def scale(quick, full):
    """How much load a scenario sends: small in ``make test``, more in ``make test-faults``."""
    return full if FULL else quick


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="full fault scenario: run `make test-faults`")
    for item in items:
        if item.get_closest_marker("fault_full") is not None and not FULL:
            item.add_marker(skip)


def report(scenario, **counts):
    """The line each scenario prints (docs/reliability.md collects them)."""
    fields = " ".join(f"{key}={value}" for key, value in counts.items())
    print(f"\nFAULT {scenario}: {fields}")


@pytest.fixture
def redis_process():
    process = RedisProcess().start()
    yield process
    process.close()


@pytest.fixture
def own_cache(settings, redis_process):
    """The default cache on the suite's own Redis, as production configures it."""
    settings.CACHES = {
        "default": {
            "BACKEND": "encompass.cache.FailOpenRedisCache",
            "LOCATION": redis_process.url,
        }
    }
    from django.core.cache import cache

    cache.clear()
    return redis_process
