"""``POST /api/device/v1/events``: what devices call to report."""

from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from devices.authentication import DeviceAPIMixin
from devices.choices import ACTIVE_STATES
from encompass.audit.middleware import client_ip

from ..ingest import BatchRefused, ingest_events, limits, parse_body, refuse_device


class DeviceRateThrottle(SimpleRateThrottle):
    """Requests per device (``DEFAULT_THROTTLE_RATES["device"]``), whatever its address."""

    scope = "device"

    def get_cache_key(self, request, view):
        device = getattr(request.user, "device", None)
        return self.cache_format % {"scope": self.scope, "ident": device.pk} if device else None


class DeviceEventsView(DeviceAPIMixin, APIView):
    """Report a batch of events (heartbeat, telemetry, security, update_status, log).

    Answers 200 with a result per item (accepted / duplicate / rejected with field errors);
    400 / 413 / 415 for a body that cannot be used at all (nothing stored); 403 when the device
    is not in service (recorded as a security event and an alert).
    """

    throttle_classes = [DeviceRateThrottle]
    parser_classes = []  # the body is parsed once, here, with the limits of the device API

    @extend_schema(
        request={"application/json": {"type": "array", "items": {"type": "object"}}},
        responses={200: dict},
        examples=[
            OpenApiExample(
                "Telemetry and a heartbeat",
                value=[
                    {
                        "id": "b1-0001",
                        "kind": "telemetry",
                        "occurred_at": "2026-01-31T12:00:00Z",
                        "payload": {"metrics": {"temp_c": 21.5}},
                    },
                    {
                        "id": "b1-0002",
                        "kind": "heartbeat",
                        "occurred_at": "2026-01-31T12:00:00Z",
                        "payload": {"firmware_version": "1.4.2"},
                    },
                ],
                request_only=True,
            )
        ],
    )
    def post(self, request):
        device = self.device
        if device.state not in ACTIVE_STATES:
            detail = refuse_device(device, method=request.user.method, address=client_ip(request))
            return Response({"detail": detail}, status=status.HTTP_403_FORBIDDEN)
        content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip()
        if content_type != "application/json":
            return Response(
                {"detail": "Send the batch as application/json."},
                status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            )
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limits()["max_bytes"]:
            return Response(
                {"detail": f"The body is larger than {limits()['max_bytes']} bytes."},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        try:
            items = parse_body(request._request.body)
        except RequestDataTooBig:
            return Response(
                {"detail": "The body is too large."},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        except BatchRefused as refused:
            return Response({"detail": refused.detail}, status=refused.status)
        result = ingest_events(device, items)
        return Response(result.as_dict(), status=status.HTTP_200_OK)
