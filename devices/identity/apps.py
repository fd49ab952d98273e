from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "devices.identity"
    label = "identity"
    verbose_name = "Device identity (PKI)"
