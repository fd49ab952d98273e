"""Public PKI distribution points: the organization's CA certificates, their CRLs, and OCSP.

Public by design (relying parties and devices fetch them without credentials); they reveal only
what every issued certificate already carries.
"""

import base64
import binascii

from django.http import Http404, HttpResponse
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from encompass.tenancy.models import Organization

from . import pki
from .models import CertificateAuthority


def _authorities(slug):
    organization = Organization.objects.filter(slug=slug).first()
    if organization is None:
        raise Http404("No such organization.")
    rows = list(
        CertificateAuthority.objects.filter(organization=organization).order_by(
            "-is_active", "-not_after"
        )
    )
    if not rows:
        raise Http404("This organization has no certificate authority.")
    return rows


def _issuing(slug):
    active = [ca for ca in _authorities(slug) if ca.is_active]
    if not active or not active[0].crl_der:
        raise Http404("This organization has no issuing CA with a CRL yet.")
    return active[0]


@require_GET
@cache_control(public=True, max_age=300)
def ca_pem(request, organization):
    """Every unexpired CA of the organization (issuing CA first) with the chains above them.

    A CA declared compromised is left out: this is the trust bundle (nginx, brokers), and
    nothing it signed may be trusted again. Its CRL stays published.
    """
    seen, parts = set(), []
    for ca in _authorities(organization):
        if ca.is_expired or ca.is_compromised:
            continue
        for cert in ca.chain():
            fingerprint = pki.fingerprint_sha256(cert)
            if fingerprint not in seen:
                seen.add(fingerprint)
                parts.append(pki.to_pem(cert))
    if not parts:
        raise Http404("Every CA of this organization has expired or is compromised.")
    response = HttpResponse("".join(parts), content_type="application/x-pem-file")
    response["Content-Disposition"] = f'inline; filename="{organization}-ca.pem"'
    return response


@require_GET
@cache_control(public=True, max_age=60)
def crl_pem(request, organization):
    """The CRL of every unexpired CA of the organization (issuing first), concatenated.

    Certificates issued before per-CA CRL URLs name this URL whichever CA issued them; an
    OpenSSL ``-CRLfile`` reads every CRL in the file.
    """
    _issuing(organization)
    parts = [ca.crl_pem() for ca in _authorities(organization) if ca.crl_der and not ca.is_expired]
    response = HttpResponse("".join(parts), content_type="application/x-pem-file")
    response["Content-Disposition"] = f'inline; filename="{organization}-crl.pem"'
    return response


@require_GET
@cache_control(public=True, max_age=60)
def crl_der(request, organization):
    ca = _issuing(organization)
    response = HttpResponse(bytes(ca.crl_der), content_type="application/pkix-crl")
    response["Content-Disposition"] = f'inline; filename="{organization}.crl"'
    return response


def _authority(slug, authority_id):
    for ca in _authorities(slug):
        if ca.pk == authority_id:
            return ca
    raise Http404("No such certificate authority.")


@require_GET
@cache_control(public=True, max_age=60)
def authority_crl(request, organization, authority_id, fmt):
    """One CA's own CRL, at the URL its certificates name; published until the CA expires."""
    ca = _authority(organization, authority_id)
    if not ca.crl_der:
        raise Http404("This CA has no CRL yet.")
    if fmt == "pem":
        return HttpResponse(ca.crl_pem(), content_type="application/x-pem-file")
    response = HttpResponse(bytes(ca.crl_der), content_type="application/pkix-crl")
    response["Content-Disposition"] = f'inline; filename="{organization}-{ca.pk}.crl"'
    return response


@require_GET
@cache_control(public=True, max_age=300)
def authority_certificate(request, organization, authority_id):
    """One CA certificate, DER (the AIA caIssuers URL of what it issued)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    ca = _authority(organization, authority_id)
    return HttpResponse(
        ca.certificate().public_bytes(Encoding.DER), content_type="application/pkix-cert"
    )


def _ocsp_response(organization, der):
    from .services.ocsp import answer_ocsp

    org = Organization.objects.filter(slug=organization).first()
    return HttpResponse(answer_ocsp(org, der), content_type="application/ocsp-response")


@csrf_exempt
@never_cache
@require_http_methods(["POST"])
def ocsp_post(request, organization):
    """RFC 6960 A.1: ``POST`` an ``application/ocsp-request`` (DER) body."""
    if request.content_type != "application/ocsp-request":
        return HttpResponse(
            "Send the DER OCSP request as application/ocsp-request.",
            status=415,
            content_type="text/plain",
        )
    return _ocsp_response(organization, request.body)


@never_cache
@require_GET
def ocsp_get(request, organization, encoded):
    """RFC 6960 A.1: ``GET .../ocsp/<url-encoded base64 of the DER request>``."""
    try:
        der = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        der = b""
    return _ocsp_response(organization, der)
