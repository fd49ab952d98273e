"""Mounted at /pki/ by encompass/urls.py."""

from django.urls import path

from . import pki_views

app_name = "pki"

urlpatterns = [
    path("<slug:organization>/ca.pem", pki_views.ca_pem, name="ca-pem"),
    path("<slug:organization>/crl.pem", pki_views.crl_pem, name="crl-pem"),
    path("<slug:organization>/crl.der", pki_views.crl_der, name="crl-der"),
    path(
        "<slug:organization>/ca/<int:authority_id>/crl.der",
        pki_views.authority_crl,
        {"fmt": "der"},
        name="authority-crl-der",
    ),
    path(
        "<slug:organization>/ca/<int:authority_id>/crl.pem",
        pki_views.authority_crl,
        {"fmt": "pem"},
        name="authority-crl-pem",
    ),
    path(
        "<slug:organization>/ca/<int:authority_id>/ca.der",
        pki_views.authority_certificate,
        name="authority-certificate",
    ),
    path("<slug:organization>/ocsp", pki_views.ocsp_post, name="ocsp"),
    path("<slug:organization>/ocsp/<path:encoded>", pki_views.ocsp_get, name="ocsp-get"),
]
