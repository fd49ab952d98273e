from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "encompass.sso"
    label = "sso"
    verbose_name = "Single sign-on"

    def ready(self):
        from devices.identity.keystore import register_rewrap
        from encompass.schedules import register_schedule
        from encompass.web.navigation import register

        from .crypto import rewrap_sso_secrets

        register_rewrap("single sign-on secret(s)", rewrap_sso_secrets)
        register("Single sign-on", "sso:settings", order=95, roles={"admin"})
        register_schedule(
            "sso.revalidate", "encompass.sso.tasks.revalidate_identities_job", minutes=5
        )
