"""A few rows of the models the attack matrix names, in one tenant, written through the services.

Light on purpose (the demo seed takes minutes): the rows that the issue's cross-tenant fields
point at -- devices, device types, tags, sites, incidents, assets, threats, risks, mitigations,
firmware releases, rollouts, signing keys -- so that "another organization's id" is a real row.
Operations whose model has no row here are still probed with a missing id; the matrix prints
how many had a real foreign row.
"""

from devices.choices import LifecycleState
from devices.firmware import services as firmware_services
from devices.models import Tag
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device, make_device_type
from incidents.services.incidents import declare_incident
from risk import services as risk_services
from tests.firmware.conftest import register_vendor, upload


def seed_tenant(tenant):
    officer = tenant.user(Role.SECURITY_OFFICER)
    slug = tenant.org.slug
    device_type = make_device_type(tenant.org, manufacturer="Matrix", model=f"M-{slug}")
    device = make_device(
        tenant.org,
        site=tenant.sites[0],
        device_type=device_type,
        state=LifecycleState.DEPLOYED,
        firmware_version="1.0.0",
        firmware_security_version=1,
    )
    make_device(tenant.org, site=tenant.sites[1], device_type=device_type)
    Tag.objects.create(organization=tenant.org, name=f"tag-{slug}")
    declare_incident(
        organization=tenant.org,
        title="Matrix incident",
        severity="high",
        actor=officer,
        devices=[device],
    )
    asset = risk_services.create_asset(
        actor=officer, organization=tenant.org, name=f"Asset {slug}", kind="service"
    )
    risk = risk_services.create_risk(
        actor=officer,
        organization=tenant.org,
        title="Matrix risk",
        scenario="s",
        likelihood=3,
        impact=3,
        assets=[asset],
    )
    risk_services.create_mitigation(risk, actor=officer, title="Matrix mitigation")
    vendor = register_vendor(tenant)
    release = upload(tenant, vendor, [device_type], "2.0.0", 2)
    release = firmware_services.approve_release(release, actor=officer)
    firmware_services.create_rollout(
        organization=tenant.org,
        release=release,
        device_type=device_type,
        name="Matrix rollout",
        actor=tenant.user(Role.OPERATOR),
    )
