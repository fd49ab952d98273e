"""Django's admin app, configured with the tenant-aware site (``encompass.admin``)."""

from django.contrib.admin.apps import AdminConfig


class EncompassAdminConfig(AdminConfig):
    """``django.contrib.admin`` whose default site is ``encompass.admin.EncompassAdminSite``."""

    default_site = "encompass.admin.EncompassAdminSite"

    def ready(self):
        super().ready()  # autodiscover: every installed app's admin module registers its models
        from django.contrib import admin

        from encompass.admin import TenantAdmin

        # Third-party admins (auth users and groups, OTP devices, django-q tasks) answer from
        # global model permissions, which cross every tenant (a superuser member of one
        # organization would list every organization's users and authenticators). Only
        # tenant-scoped admins stay on the site; platform operators use manage.py.
        for model, model_admin in list(admin.site._registry.items()):
            if not isinstance(model_admin, TenantAdmin):
                admin.site.unregister(model)
