from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "devices.identity"
    label = "identity"
    verbose_name = "Device identity (PKI)"

    def ready(self):
        from django.core import checks

        from devices.authentication import register_certificate_authenticator
        from devices.choices import LifecycleState
        from devices.lifecycle import (
            register_credential_revoker,
            register_guard,
            register_side_effect,
        )
        from devices.monitoring.hooks import register_expiring_certificates
        from encompass.schedules import register_schedule
        from encompass.web.navigation import register

        from . import hooks, system_checks
        from .authentication import authenticate_certificate

        checks.register(system_checks.key_store_usable)
        register_certificate_authenticator(authenticate_certificate)
        register_guard(LifecycleState.DEPLOYED, hooks.needs_active_certificate)
        register_side_effect(LifecycleState.QUARANTINED, hooks.revoke_on_quarantine)
        for state in (
            LifecycleState.PROVISIONED,
            LifecycleState.DEPLOYED,
            LifecycleState.MAINTENANCE,
        ):
            register_side_effect(state, hooks.release_holds)
        register_credential_revoker(hooks.revoke_for_decommissioning)
        register_expiring_certificates(hooks.expiring_certificates)
        register_schedule(
            "identity.maintenance",
            "devices.identity.tasks.certificate_maintenance",
            minutes=60,
        )
        register("Identity", "identity_ui:overview", order=30)
