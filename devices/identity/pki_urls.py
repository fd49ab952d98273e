"""Mounted at /pki/ by encompass/urls.py."""

from django.urls import path

from . import pki_views

app_name = "pki"

urlpatterns = [
    path("<slug:organization>/ca.pem", pki_views.ca_pem, name="ca-pem"),
    path("<slug:organization>/crl.pem", pki_views.crl_pem, name="crl-pem"),
    path("<slug:organization>/crl.der", pki_views.crl_der, name="crl-der"),
]
