from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "encompass.web"
    label = "web"
    verbose_name = "Web UI"

    def ready(self):
        from .navigation import register

        register("Organization", "web:overview", order=90)
