"""Public PKI distribution points: the organization's CA certificates and its CRL.

Public by design (relying parties and devices fetch them without credentials); they reveal only
what every issued certificate already carries.
"""

from django.http import Http404, HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

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
    """Every unexpired CA of the organization (issuing CA first) with the chains above them."""
    seen, parts = set(), []
    for ca in _authorities(organization):
        if ca.is_expired:
            continue
        for cert in ca.chain():
            fingerprint = pki.fingerprint_sha256(cert)
            if fingerprint not in seen:
                seen.add(fingerprint)
                parts.append(pki.to_pem(cert))
    if not parts:
        raise Http404("Every CA of this organization has expired.")
    response = HttpResponse("".join(parts), content_type="application/x-pem-file")
    response["Content-Disposition"] = f'inline; filename="{organization}-ca.pem"'
    return response


@require_GET
@cache_control(public=True, max_age=60)
def crl_pem(request, organization):
    ca = _issuing(organization)
    response = HttpResponse(ca.crl_pem(), content_type="application/x-pem-file")
    response["Content-Disposition"] = f'inline; filename="{organization}-crl.pem"'
    return response


@require_GET
@cache_control(public=True, max_age=60)
def crl_der(request, organization):
    ca = _issuing(organization)
    response = HttpResponse(bytes(ca.crl_der), content_type="application/pkix-crl")
    response["Content-Disposition"] = f'inline; filename="{organization}.crl"'
    return response
