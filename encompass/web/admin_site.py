"""Django's admin app, configured with the tenant-aware site (``encompass.admin``)."""

from django.contrib.admin.apps import AdminConfig


class EncompassAdminConfig(AdminConfig):
    """``django.contrib.admin`` whose default site is ``encompass.admin.EncompassAdminSite``."""

    default_site = "encompass.admin.EncompassAdminSite"
