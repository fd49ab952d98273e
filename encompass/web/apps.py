from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "encompass.web"
    label = "web"
    verbose_name = "Web UI"

    def ready(self):
        from . import signin  # noqa: F401  (the lockout's audit receiver)
        from .navigation import register

        register("Organization", "web:overview", order=90)
