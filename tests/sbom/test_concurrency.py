"""Two uploads racing on one release: both are kept, exactly one is current."""

import pytest

from devices.firmware.models import Component, SoftwareBill
from devices.firmware.services.sbom import attach_sbom
from encompass.tenancy.roles import Role

from ..firmware.test_concurrency import run_threads

pytestmark = pytest.mark.django_db(transaction=True)


def test_racing_uploads_leave_one_current_sbom(world, release, generated):
    actor = world.a.user(Role.OPERATOR)
    docs = [generated["cdx_xml"], generated["spdx_json"], generated["spdx_tag"]]
    errors = run_threads([lambda d=d: attach_sbom(release, d, actor=actor) for d in docs])
    assert errors == []
    bills = SoftwareBill.objects.filter(release=release)
    assert bills.count() == 3
    current = bills.get(superseded_at=None)
    assert set(
        Component.objects.filter(release=release, current=True).values_list("bill", flat=True)
    ) == {current.pk}
