from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "encompass.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy and access"
