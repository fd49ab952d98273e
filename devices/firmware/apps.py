from django.apps import AppConfig


class FirmwareConfig(AppConfig):
    name = "devices.firmware"
    label = "firmware"
    verbose_name = "Firmware and rollouts"

    def ready(self):
        from devices.lifecycle import register_rollout_remover
        from devices.monitoring.hooks import register_ingest_listener, register_simulator_behaviour
        from encompass.schedules import register_schedule
        from encompass.web.navigation import register

        from .services.reports import on_ingest
        from .services.rollouts import remove_device_from_rollouts
        from .simulation import FirmwareUpdateBehaviour

        register_schedule("firmware.rollouts", "devices.firmware.tasks.drive", minutes=1)
        register_ingest_listener(on_ingest, kinds=("device.heartbeat",))
        register_rollout_remover(remove_device_from_rollouts)
        register_simulator_behaviour(FirmwareUpdateBehaviour)
        register("Firmware", "firmware_ui:rollouts", order=35)
