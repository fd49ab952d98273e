from encompass.tenancy.models import Site
from encompass.testing.api import TenantAPIContract
from encompass.testing.factories import make_site


class TestSiteAPI(TenantAPIContract):
    basename = "site"
    model = Site

    def make(self, world, tenant):
        return make_site(tenant.org)

    def create_payload(self, world, tenant):
        return {"organization": tenant.org.pk, "name": "Harbour depot", "slug": "harbour"}

    def update_payload(self, world, obj):
        return {"name": "Renamed depot"}
