"""Small factories for tests and the demo seed. They write through the services where it matters
(memberships carry guardian grants) and directly where a test only needs a row to exist."""

import itertools

from django.contrib.auth import get_user_model

from devices.choices import LifecycleState
from devices.models import Device, DeviceType
from encompass.tenancy.models import Organization, Site
from encompass.tenancy.services import add_membership

User = get_user_model()
_seq = itertools.count(1)


def make_org(name=None, slug=None):
    n = next(_seq)
    name = name or f"Org {n}"
    return Organization.objects.create(name=name, slug=slug or f"org-{n}")


def make_site(org, name=None, slug=None):
    n = next(_seq)
    return Site.objects.create(organization=org, name=name or f"Site {n}", slug=slug or f"site-{n}")


def make_user(username=None, password=None, **extra):
    n = next(_seq)
    user = User.objects.create_user(
        username=username or f"user{n}",
        password=password,
        email=extra.pop("email", f"user{n}@example.test"),
        **extra,
    )
    return user


def make_member(org, role, *, sites=(), username=None, password=None):
    user = make_user(username=username, password=password)
    add_membership(organization=org, user=user, role=role, sites=sites, actor=None)
    return user


def make_device_type(org, **fields):
    n = next(_seq)
    defaults = {"manufacturer": "Acme", "model": f"Sensor-{n}", "heartbeat_interval": 60}
    defaults.update(fields)
    return DeviceType.objects.create(organization=org, **defaults)


def make_device(org, *, site=None, device_type=None, state=LifecycleState.PROCURED, **fields):
    """A device row in ``state`` (set directly: test set-up, not a lifecycle transition)."""
    n = next(_seq)
    device_type = device_type or make_device_type(org)
    defaults = {"serial_number": f"SN-{n:06d}", "name": f"device-{n}"}
    defaults.update(fields)
    return Device.objects.create(
        organization=org, site=site, device_type=device_type, state=state, **defaults
    )
