"""Demo seed: a CA and policy per organization, devices enrolled the way real devices enroll
(key generated on the "device", CSR + one-time token), deployed, and a few certificates close to
expiry so the identity page, the alerts and the compliance check have something to fix.

Shares ``ctx.data["device_keys"][uid]`` (PEM private keys of the seeded devices, as the devices
would hold them) for a simulator that wants to authenticate with certificates.
"""

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from devices.choices import LifecycleState
from encompass.tenancy.roles import Role

from . import services
from .choices import IssuedVia
from .tasks import flag_certificates

SHORT_LIVED = 2  # per organization: certificates from an earlier 12-day pilot, about to expire


def _csr(key, uid):
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, uid)]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )


def _pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _deploy(device, actor, log):
    from devices.services import transition_device

    try:
        if device.state == LifecycleState.PROCURED:
            transition_device(
                device, LifecycleState.PROVISIONED, actor=actor, reason="Identity loaded (demo)"
            )
        if device.state == LifecycleState.PROVISIONED:
            transition_device(
                device, LifecycleState.DEPLOYED, actor=actor, reason="Installed on site (demo)"
            )
    except (ValidationError, PermissionDenied) as exc:
        log(f"  identity: {device} not deployed: {exc}")


def seed(ctx):
    keys = ctx.data.setdefault("device_keys", {})
    for demo_org in ctx.orgs:
        org = demo_org.org
        admin = demo_org.admin or demo_org.user(Role.ADMIN)
        operator = demo_org.users.get(str(Role.OPERATOR), admin)
        if services.active_authority(org) is None:
            services.create_certificate_authority(
                organization=org, actor=admin, name=f"{org.name} device CA"
            )
        services.ensure_policy(org, actor=admin)
        devices = ctx.data.get("devices_to_deploy", {}).get(org.slug, [])
        enrolled = 0
        for index, device in enumerate(devices):
            device.refresh_from_db()
            if services.active_certificate_for(device) is None:
                key = ec.generate_private_key(ec.SECP256R1())
                if index < SHORT_LIVED:
                    with transaction.atomic():
                        services.issue_certificate(
                            device,
                            key.public_key(),
                            actor=admin,
                            via=IssuedVia.ENROLLMENT,
                            validity_days=12,
                        )
                else:
                    _token, plaintext = services.create_enrollment_token(device, actor=operator)
                    services.enroll(token=plaintext, csr_pem=_csr(key, device.uid))
                keys[device.uid] = _pem(key)
                enrolled += 1
            _deploy(device, admin, ctx.log)
        flag_certificates(org)
        ctx.log(f"  identity: {org.slug}: CA ready, {enrolled} device(s) enrolled")
