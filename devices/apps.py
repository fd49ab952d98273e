from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"
    label = "devices"
    verbose_name = "Devices"

    def ready(self):
        from encompass.web.navigation import register

        from .decommissioning import register_hooks

        register_hooks()
        register("Devices", "devices_ui:list", order=10)
        register("Inventory", "devices_ui:inventory", order=15)
