from django.apps import AppConfig


class MqttConfig(AppConfig):
    """MQTT over mutual TLS: an adapter onto the device services (docs/mqtt.md)."""

    name = "devices.mqtt"
    label = "mqtt"
    verbose_name = "MQTT transport"

    def ready(self):
        from django.db.models.signals import post_save

        from devices.firmware.models import RolloutWave
        from devices.identity.signals import crl_published

        from .broker import on_crl_published
        from .commands import on_wave_saved

        crl_published.connect(on_crl_published, dispatch_uid="mqtt-crl-sync")
        post_save.connect(on_wave_saved, sender=RolloutWave, dispatch_uid="mqtt-wave-notify")
