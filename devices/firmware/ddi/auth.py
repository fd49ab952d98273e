"""How hawkBit DDI clients authenticate: the three ways hawkBit offers, mapped onto ours.

* ``Authorization: TargetToken <token>`` -- the device's own per-device token (``dtk_...``, the
  one ``rotate_device_token`` issues and the native device API takes as ``Device <token>``);
* ``Authorization: GatewayToken <token>`` -- an organization's gateway token (``gwt_...``,
  :class:`~devices.firmware.models.GatewayToken`), good for every device of that organization;
* the client certificate the TLS proxy verified and forwarded (the trusted-proxy header of
  ``devices.identity.authentication``), naming the device in its CN.

The credential must name the very target of the URL: ``/{tenant}/controller/v1/{controllerId}``
with tenant = the organization's slug and controllerId = the device's uid. Every refusal --
unknown tenant, unknown device, wrong token, another organization's device, a retired or
quarantined device -- is the same ``401`` (no oracle; ``429`` once the address is past the
auth-failure limit, for its failures only), and is recorded as a security event on each device
involved that the caller named or proved.
"""

import logging
import secrets

from django.utils import timezone
from rest_framework import authentication, exceptions

from devices.authentication import DevicePrincipal, _certificate_authenticators
from devices.choices import ACTIVE_STATES, LifecycleState
from devices.models import Device
from devices.services import device_for_token
from encompass.api.throttling import AuthFailureThrottle
from encompass.audit.middleware import client_ip
from encompass.events.choices import Severity
from encompass.events.services import record_event
from encompass.tenancy.models import Organization
from encompass.tenancy.models.apikey import hash_secret

from ..models import GatewayToken
from ..models.ddi import GATEWAY_TOKEN_PREFIX

logger = logging.getLogger(__name__)
REFUSED = "Authentication failed."
RETIRED = frozenset(
    {LifecycleState.DECOMMISSIONING, LifecycleState.DECOMMISSIONED, LifecycleState.DISPOSED}
)
TOUCH_EVERY_SECONDS = 300


def gateway_token_for(token):
    """The active gateway token a presented secret belongs to, or ``None``."""
    if not token or not token.startswith(GATEWAY_TOKEN_PREFIX):
        return None
    prefix = token[len(GATEWAY_TOKEN_PREFIX) :].partition("_")[0]
    if len(prefix) != 8:
        return None
    found = (
        GatewayToken.objects.select_related("organization")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if found is None or not secrets.compare_digest(found.token_hash, hash_secret(token)):
        return None
    return found


def _security_event(device, request, reason, method):
    record_event(
        "security.auth_failure",
        organization=device.organization,
        device=device,
        severity=Severity.WARNING,
        payload={
            "method": f"ddi-{method}",
            "reason": reason,
            "ip": client_ip(request),
            "path": request.path[:200],
        },
    )


class DDIAuthentication(authentication.BaseAuthentication):
    """DRF authentication for the DDI views; ``request.user`` becomes a ``DevicePrincipal``."""

    keyword = "TargetToken"

    def authenticate_header(self, request):
        return self.keyword

    def authenticate(self, request):
        throttle = AuthFailureThrottle()
        throttle.scope = "device_auth_failure"
        kwargs = (getattr(request, "parser_context", None) or {}).get("kwargs", {})
        try:
            return self._authenticate(request, kwargs.get("tenant"), kwargs.get("controller_id"))
        except exceptions.AuthenticationFailed:
            # Only failures count, and only failures are refused with 429 past the limit: a
            # credential that verifies is accepted whatever its address has been doing (agents
            # behind one NAT must not lock each other out).
            throttle.record_failure(request)
            if throttle.is_blocked(request):
                raise exceptions.Throttled(wait=throttle.wait_seconds(request)) from None
            raise

    def _target(self, tenant, controller_id):
        if not tenant or not controller_id:
            return None, None
        organization = Organization.objects.filter(slug=tenant).first()
        if organization is None:
            return None, None
        device = (
            Device.objects.select_related("organization", "site", "device_type")
            .filter(organization=organization, uid=controller_id)
            .first()
        )
        return organization, device

    def _refuse(self, request, reason, method, *devices):
        seen = set()
        for device in devices:
            if device is not None and device.pk not in seen:
                seen.add(device.pk)
                _security_event(device, request, reason, method)
        logger.warning("DDI request refused from %s: %s", client_ip(request), reason)
        return exceptions.AuthenticationFailed(REFUSED)

    def _authenticate(self, request, tenant, controller_id):
        organization, target = self._target(tenant, controller_id)
        principal = None
        for authenticator in _certificate_authenticators:
            found = authenticator(request)  # refuses (and records) a bad certificate itself
            if found is not None:
                device, certificate = found
                if target is None or device.pk != target.pk:
                    raise self._refuse(
                        request,
                        f"certificate of {device.uid} presented for target "
                        f"{tenant}/{controller_id}",
                        "certificate",
                        device,
                        target,
                    )
                principal = DevicePrincipal(target, "certificate", certificate)
                break
        if principal is None:
            header = authentication.get_authorization_header(request).decode("latin-1").split()
            if not header:
                return None  # DRF answers 401 with WWW-Authenticate: TargetToken
            scheme = header[0]
            if scheme not in ("TargetToken", "GatewayToken") or len(header) != 2:
                if scheme in ("TargetToken", "GatewayToken"):
                    raise self._refuse(request, "malformed Authorization header", "token", target)
                return None
            if scheme == "TargetToken":
                device = device_for_token(header[1])
                if device is None:
                    raise self._refuse(request, "wrong target token", "target-token", target)
                if target is None or device.pk != target.pk:
                    raise self._refuse(
                        request,
                        f"target token of {device.uid} presented for target "
                        f"{tenant}/{controller_id}",
                        "target-token",
                        device,
                        target,
                    )
                principal = DevicePrincipal(target, "ddi-target-token")
            else:
                gateway = gateway_token_for(header[1])
                if gateway is None:
                    raise self._refuse(request, "wrong gateway token", "gateway-token", target)
                if organization is None or gateway.organization_id != organization.pk:
                    raise self._refuse(
                        request,
                        f"gateway token {gateway.name!r} of another organization",
                        "gateway-token",
                        target,
                    )
                if target is None:
                    # The gateway may speak for the whole organization: an unknown target is
                    # plainly not found (hawkBit would register it; Encompass registers devices
                    # through its lifecycle, never on first contact).
                    raise exceptions.NotFound("No such target.")
                self._touch(gateway)
                principal = DevicePrincipal(target, "ddi-gateway-token")
        self._check_state(request, principal)
        return principal, principal.certificate

    def _check_state(self, request, principal):
        device = principal.device
        if device.state in ACTIVE_STATES:
            return
        if device.state in RETIRED:
            raise self._refuse(
                request, f"the device is {device.get_state_display().lower()}", "state", device
            )
        # Quarantined (or not yet provisioned): recorded and alerted like a native report.
        from devices.monitoring.ingest import refuse_device

        refuse_device(device, method=principal.method, address=client_ip(request))
        raise exceptions.AuthenticationFailed(REFUSED)

    def _touch(self, gateway):
        now = timezone.now()
        if gateway.last_used_at is None or (
            (now - gateway.last_used_at).total_seconds() > TOUCH_EVERY_SECONDS
        ):
            GatewayToken.objects.filter(pk=gateway.pk).update(last_used_at=now)
