from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "encompass.api"
    label = "encompass_api"
    verbose_name = "REST API"
