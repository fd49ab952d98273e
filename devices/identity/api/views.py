import base64

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from encompass.api.viewsets import (
    CreateListRetrieveViewSet,
    RestrictedViewSetMixin,
    TenantReadOnlyViewSet,
)
from encompass.tenancy import crud

from .. import services
from ..models import CertificateAuthority, DeviceCertificate, EnrollmentToken, IdentityPolicy
from ..services.compromise import declare_ca_compromised
from .serializers import (
    CertificateAuthorityImportSerializer,
    CertificateAuthoritySerializer,
    DeclareCompromiseResultSerializer,
    DeclareCompromiseSerializer,
    DeviceCertificateSerializer,
    EnrollmentTokenSerializer,
    FactoryBundleSerializer,
    IdentityPolicySerializer,
    RevokeSerializer,
)


class ObjectActionMixin:
    """Object-level permission per viewset action (``IsMember`` reads ``object_action``)."""

    object_actions = {}

    @property
    def object_action(self):
        return self.object_actions.get(getattr(self, "action", None))


class CertificateAuthorityViewSet(ObjectActionMixin, CreateListRetrieveViewSet):
    """Certificate authorities. Creating one generates a root CA; ``import`` registers an existing
    root or intermediate with its key. Private keys are stored encrypted and never returned."""

    queryset = CertificateAuthority.objects.select_related("organization")
    serializer_class = CertificateAuthoritySerializer
    filterset_fields = ["organization", "is_active", "kind", "source"]
    search_fields = ["name", "subject", "serial_hex", "fingerprint_sha256"]
    object_actions = {
        "activate": "change",
        "regenerate_crl": "regenerate_crl",
        "declare_compromised": "declare_compromised",
    }

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.create_certificate_authority(
            organization=data["organization"],
            actor=self.request.user,
            name=data.get("name", ""),
            key_algorithm=data["key_algorithm"],
            validity_days=data["validity_days"],
        )

    @extend_schema(
        request=CertificateAuthorityImportSerializer, responses=CertificateAuthoritySerializer
    )
    @action(detail=False, methods=["post"], url_path="import", url_name="import")
    def import_ca(self, request):
        serializer = CertificateAuthorityImportSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        authority = services.import_certificate_authority(
            organization=data["organization"],
            actor=request.user,
            certificate_pem=data["certificate_pem"],
            private_key_pem=data["private_key_pem"],
            password=data.get("password", ""),
            chain_pem=data.get("chain_pem", ""),
            name=data.get("name", ""),
            activate=data["activate"],
        )
        return Response(self.get_serializer(authority).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=CertificateAuthoritySerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        authority = services.activate_certificate_authority(self.get_object(), actor=request.user)
        return Response(self.get_serializer(authority).data)

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def rotation(self, request, pk=None):
        """Rotation progress: devices whose current certificate is from this CA, from the
        issuing CA, and what keeps each remaining device on this one."""
        from ..rotation import rotation_progress

        return Response(rotation_progress(self.get_object(), request.user))

    @extend_schema(request=DeclareCompromiseSerializer, responses=DeclareCompromiseResultSerializer)
    @action(detail=True, methods=["post"], url_path="declare-compromised")
    def declare_compromised(self, request, pk=None):
        """The emergency path: revoke everything this CA issued (CA compromise), take it out of
        every trust list, and answer a one-time enrollment token per device that must
        re-enroll (shown once)."""
        authority = self.get_object()
        serializer = DeclareCompromiseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = declare_ca_compromised(
            authority, actor=request.user, note=serializer.validated_data["note"]
        )
        body = {
            key: result[key]
            for key in (
                "revoked",
                "devices",
                "already_on_another_ca",
                "tokens_issued",
                "not_enrollable",
                "issuing_authority",
            )
        }
        body["tokens"] = [
            {"device": device.pk, "device_uid": device.uid, "token": token}
            for device, token in result["tokens"]
        ]
        body["not_enrollable_devices"] = [device.pk for device in result["skipped"]]
        response = Response(DeclareCompromiseResultSerializer(body).data)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(request=None, responses=CertificateAuthoritySerializer)
    @action(detail=True, methods=["post"], url_path="regenerate-crl")
    def regenerate_crl(self, request, pk=None):
        authority = self.get_object()
        authority = services.regenerate_crl(authority, actor=request.user)
        return Response(self.get_serializer(authority).data)


class DeviceCertificateViewSet(ObjectActionMixin, TenantReadOnlyViewSet):
    """Device certificates: status, validity, serial, fingerprints. Revoke with an RFC 5280
    reason; ``factory-bundle`` generates a key for factory provisioning (Admin only)."""

    queryset = DeviceCertificate.objects.select_related("device", "organization").prefetch_related(
        Prefetch("replaced_by", queryset=DeviceCertificate.objects.only("pk", "replaces_id"))
    )
    serializer_class = DeviceCertificateSerializer
    filterset_fields = [
        "organization",
        "device",
        "authority",
        "issued_via",
        "revocation_reason",
        "key_algorithm",
    ]
    search_fields = ["serial_hex", "fingerprint_sha256", "subject", "device__uid", "device__name"]
    object_actions = {"revoke": "revoke"}

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["renewal_windows"] = dict(
            IdentityPolicy.objects.restrict(self.request.user).values_list(
                "organization_id", "renewal_window_days"
            )
        )
        return context

    @extend_schema(request=RevokeSerializer, responses=DeviceCertificateSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        body = RevokeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        certificate = services.revoke_certificate(
            self.get_object(),
            actor=request.user,
            reason_code=body.validated_data["reason"],
            note=body.validated_data["note"],
        )
        return Response(self.get_serializer(certificate).data)

    @extend_schema(request=FactoryBundleSerializer, responses=DeviceCertificateSerializer)
    @action(detail=False, methods=["post"], url_path="factory-bundle", url_name="factory-bundle")
    def factory_bundle(self, request):
        """Generate the device key here (factory provisioning); the PKCS#12 is answered once."""
        body = FactoryBundleSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        data = body.validated_data
        certificate, bundle = services.generate_factory_bundle(
            data["device"],
            actor=request.user,
            password=data["password"],
            key_algorithm=data["key_algorithm"],
        )
        answer = self.get_serializer(certificate).data
        answer["pkcs12_base64"] = base64.b64encode(bundle).decode()
        return Response(answer, status=status.HTTP_201_CREATED)


class EnrollmentTokenViewSet(ObjectActionMixin, CreateListRetrieveViewSet):
    """One-time enrollment tokens. The token is shown once, in the answer to its creation."""

    queryset = EnrollmentToken.objects.select_related("device", "organization")
    serializer_class = EnrollmentTokenSerializer
    filterset_fields = ["organization", "device"]
    search_fields = ["prefix", "device__uid", "device__name", "note"]
    object_actions = {"revoke": "revoke"}

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        hours = data.get("ttl_hours")
        token, plaintext = services.create_enrollment_token(
            data["device"], actor=request.user, ttl=hours, note=data.get("note", "")
        )
        out = self.get_serializer(
            token, context={**self.get_serializer_context(), "plaintext_token": plaintext}
        )
        return Response(out.data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=EnrollmentTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = services.revoke_enrollment_token(self.get_object(), actor=request.user)
        return Response(self.get_serializer(token).data)


class IdentityPolicyViewSet(
    RestrictedViewSetMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Each organization's PKI policy (one per organization; created with defaults with its
    first CA)."""

    queryset = IdentityPolicy.objects.select_related("organization")
    serializer_class = IdentityPolicySerializer
    filterset_fields = ["organization"]

    def perform_create(self, serializer):
        serializer.instance = crud.create_object(
            IdentityPolicy, serializer.validated_data, actor=self.request.user
        )

    def perform_update(self, serializer):
        serializer.instance = crud.update_object(
            serializer.instance, serializer.validated_data, actor=self.request.user
        )
