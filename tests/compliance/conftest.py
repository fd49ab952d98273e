"""Compliance fixtures: the shipped catalogues loaded once per test session (every test's
transaction rolls back to them), and a small fleet builder."""

import pytest

from compliance.services.loading import load_catalogue


@pytest.fixture(scope="session")
def catalogue(django_db_setup, django_db_blocker):
    from compliance.models import Framework

    with django_db_blocker.unblock():
        if not Framework.objects.exists():
            load_catalogue()
    return True


@pytest.fixture
def frameworks(catalogue, db):
    from compliance.models import Framework

    return {f.code: f for f in Framework.objects.all()}
