from django.apps import AppConfig


class FirmwareConfig(AppConfig):
    name = "devices.firmware"
    label = "firmware"
    verbose_name = "Firmware and rollouts"
