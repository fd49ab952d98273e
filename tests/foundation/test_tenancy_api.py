from encompass.audit.models import AuditEntry
from encompass.audit.services import record_audit
from encompass.tenancy.invitations import invite_member
from encompass.tenancy.models import ApiKey, Membership, MembershipInvitation, Organization, Site
from encompass.tenancy.roles import Role
from encompass.tenancy.services import add_membership, create_api_key
from encompass.testing.api import TenantAPIContract
from encompass.testing.factories import make_site, make_user


class TestSiteAPI(TenantAPIContract):
    basename = "site"
    model = Site

    def make(self, world, tenant):
        return make_site(tenant.org)

    def create_payload(self, world, tenant):
        return {"organization": tenant.org.pk, "name": "Harbour depot", "slug": "harbour"}

    def update_payload(self, world, obj):
        return {"name": "Renamed depot"}


class TestOrganizationAPI(TenantAPIContract):
    basename = "organization"
    model = Organization
    creatable = False  # a platform task (manage.py create_organization)
    deletable = False

    def make(self, world, tenant):
        return tenant.org

    def update_payload(self, world, obj):
        return {"description": "Renamed by its Admin"}


class TestMembershipAPI(TenantAPIContract):
    basename = "membership"
    model = Membership
    creatable = False  # an Admin invites (below); the user joins by accepting (issue 15)

    def make(self, world, tenant):
        user = make_user()
        return add_membership(organization=tenant.org, user=user, role=Role.OPERATOR, actor=None)

    def update_payload(self, world, obj):
        return {"role": Role.AUDITOR}


class TestMembershipInvitationAPI(TenantAPIContract):
    basename = "membershipinvitation"
    model = MembershipInvitation
    updatable = deletable = False  # revoked, accepted or declined -- never edited
    audit_action_prefix = "tenancy.invitation"

    def make(self, world, tenant):
        return invite_member(
            organization=tenant.org,
            username=make_user().username,
            role=Role.OPERATOR,
            actor=tenant.user(Role.ADMIN),
        )

    def create_payload(self, world, tenant):
        return {"organization": tenant.org.pk, "username": make_user().username, "role": "admin"}


class TestApiKeyAPI(TenantAPIContract):
    basename = "apikey"
    model = ApiKey
    updatable = False  # keys are revoked, suspended or resumed -- never edited
    deletable = False  # the record stays for the audit trail

    def make(self, world, tenant):
        key, _ = create_api_key(
            organization=tenant.org, name="SIEM", role=Role.AUDITOR, actor=tenant.user(Role.ADMIN)
        )
        return key

    def create_payload(self, world, tenant):
        return {"organization": tenant.org.pk, "name": "CMDB sync", "role": "operator", "days": 30}


class TestAuditEntryAPI(TenantAPIContract):
    basename = "auditentry"
    model = AuditEntry
    creatable = updatable = deletable = False  # append-only, written by the services

    def make(self, world, tenant):
        return record_audit(
            "test.recorded", actor="test", organization=tenant.org, object_repr="thing"
        )
