import datetime
import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from devices.models import Device
from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role
from encompass.testing.api import TenantAPIContract
from encompass.testing.factories import make_device, make_device_type
from risk import services
from risk.matrix import default_definition
from risk.models import Asset, Mitigation, Risk, RiskMatrix, Threat, Vulnerability

from .conftest import in_days


def officer_of(tenant):
    return tenant.user(Role.SECURITY_OFFICER)


def client(user):
    c = APIClient()
    c.force_authenticate(user)
    return c


def risk_in(tenant, **kwargs):
    kwargs.setdefault("title", "Risk")
    kwargs.setdefault("scenario", "Scenario")
    kwargs.setdefault("likelihood", 3)
    kwargs.setdefault("impact", 3)
    return services.create_risk(actor=officer_of(tenant), organization=tenant.org, **kwargs)


class TestAssetAPI(TenantAPIContract):
    basename = "risk-asset"
    model = Asset

    def make(self, world, tenant):
        return Asset.objects.create(
            organization=tenant.org, kind="service", name=f"MQTT broker {Asset.objects.count()}"
        )

    def create_payload(self, world, tenant):
        return {
            "organization": tenant.org.pk,
            "kind": "data_store",
            "name": "Telemetry DB",
            "confidentiality": True,
        }

    def update_payload(self, world, obj):
        return {"criticality": "critical"}


class TestThreatAPI(TenantAPIContract):
    basename = "risk-threat"
    model = Threat

    def make(self, world, tenant):
        return Threat.objects.create(
            organization=tenant.org,
            code=f"own-{Threat.objects.count()}",
            name="Insider sabotage",
            stride="tampering",
        )

    def create_payload(self, world, tenant):
        return {
            "organization": tenant.org.pk,
            "code": "rogue-ap",
            "name": "Rogue access point",
            "stride": "spoofing",
        }

    def update_payload(self, world, obj):
        return {"name": "Renamed"}


class TestVulnerabilityAPI(TenantAPIContract):
    basename = "risk-vulnerability"
    model = Vulnerability

    def make(self, world, tenant):
        return services.create_vulnerability(
            actor=officer_of(tenant),
            organization=tenant.org,
            identifier=f"CVE-2026-{5000 + Vulnerability.objects.count()}",
            title="Flaw",
            cvss_score=5,
        )

    def create_payload(self, world, tenant):
        dt = make_device_type(tenant.org)
        return {
            "organization": tenant.org.pk,
            "identifier": "CVE-2026-6000",
            "title": "New",
            "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "affected": [{"device_type": dt.pk, "fixed_version": "2.0"}],
        }

    def update_payload(self, world, obj):
        return {"status": "mitigated"}


class TestRiskMatrixAPI(TenantAPIContract):
    basename = "risk-matrix"
    model = RiskMatrix

    def make(self, world, tenant):
        return RiskMatrix.objects.create(
            organization=tenant.org,
            name=f"M{RiskMatrix.objects.count()}",
            definition=default_definition(),
        )

    def create_payload(self, world, tenant):
        return {
            "organization": tenant.org.pk,
            "name": "Plant matrix",
            "definition": default_definition(),
        }

    def update_payload(self, world, obj):
        return {"description": "For the plants"}


class TestRiskAPI(TenantAPIContract):
    basename = "risk"
    model = Risk

    def make(self, world, tenant):
        return risk_in(tenant)

    def create_payload(self, world, tenant):
        return {
            "organization": tenant.org.pk,
            "title": "Botnet",
            "scenario": "Mirai",
            "inherent_likelihood": 4,
            "inherent_impact": 3,
            "threats": [Threat.objects.get(code="botnet-enrolment").pk],
        }

    def update_payload(self, world, obj):
        return {"title": "Botnet enrolment of cameras"}


class TestMitigationAPI(TenantAPIContract):
    basename = "risk-mitigation"
    model = Mitigation

    def make(self, world, tenant):
        return services.create_mitigation(risk_in(tenant), actor=officer_of(tenant), title="Patch")

    def create_payload(self, world, tenant):
        return {
            "risk": risk_in(tenant).pk,
            "title": "Rotate credentials",
            "requirement_refs": ["etsi-en-303-645:5.1-1"],
        }

    def update_payload(self, world, obj):
        return {"due_on": "2030-01-01"}


def test_shipped_threats_visible_to_every_tenant_and_read_only(world):
    shipped = Threat.objects.get(code="firmware-tampering")
    for user in (world.a.user(Role.AUDITOR), world.b.user(Role.TECHNICIAN)):
        response = client(user).get(reverse("risk-threat-list"), {"page_size": 500})
        assert shipped.pk in {r["id"] for r in response.json()["results"]}
    admin = client(world.a.user(Role.ADMIN))
    url = reverse("risk-threat-detail", args=[shipped.pk])
    assert admin.patch(url, {"name": "Mine now"}, format="json").status_code == 403
    assert admin.delete(url).status_code == 403
    assert client(world.outsider).get(url).status_code == 404


def test_risk_cannot_reference_another_tenants_rows(world):
    theirs_asset = Asset.objects.create(organization=world.b.org, kind="service", name="B broker")
    theirs_vuln = services.create_vulnerability(
        actor=officer_of(world.b),
        organization=world.b.org,
        identifier="CVE-2026-7000",
        title="B",
        cvss_score=1,
    )
    theirs_threat = Threat.objects.create(
        organization=world.b.org, code="b-only", name="B", stride="spoofing"
    )
    api = client(officer_of(world.a))
    for field, value in (
        ("assets", theirs_asset.pk),
        ("vulnerabilities", theirs_vuln.pk),
        ("threats", theirs_threat.pk),
    ):
        response = api.post(
            reverse("risk-list"),
            {
                "title": "x",
                "scenario": "y",
                "inherent_likelihood": 1,
                "inherent_impact": 1,
                field: [value],
            },
            format="json",
        )
        assert response.status_code == 400 and field in response.json(), response.content
    theirs_device = make_device(world.b.org)
    mine = risk_in(world.a)
    response = api.post(
        reverse("risk-mitigation-list"),
        {"risk": mine.pk, "title": "x", "devices": [theirs_device.pk]},
        format="json",
    )
    assert response.status_code == 400 and "devices" in response.json()
    assert not Risk.objects.filter(organization=world.a.org).exclude(pk=mine.pk).exists()


def test_risk_actions_by_role(world):
    risk = risk_in(world.a, treatment="accept")
    url = lambda name: reverse(f"risk-{name}", args=[risk.pk])  # noqa: E731
    body = {"justification": "Compensating control", "expires_at": in_days(30).isoformat()}
    for role in (Role.ADMIN, Role.OPERATOR, Role.AUDITOR):
        assert (
            client(world.a.user(role)).post(url("accept"), body, format="json").status_code == 403
        )
    assert client(officer_of(world.b)).post(url("accept"), body, format="json").status_code == 404
    response = client(officer_of(world.a)).post(url("accept"), body, format="json")
    assert response.status_code == 200 and response.json()["effective_status"] == "accepted"

    assert (
        client(world.a.user(Role.OPERATOR))
        .post(url("revoke-acceptance"), {"reason": "x"}, format="json")
        .status_code
        == 403
    )
    admin = client(world.a.user(Role.ADMIN))
    assert (
        admin.post(url("revoke-acceptance"), {"reason": "gone"}, format="json").status_code == 200
    )
    response = admin.post(url("residual"), {"likelihood": 4, "impact": 1}, format="json")
    assert response.status_code == 400 and "residual_likelihood" in response.json()
    response = admin.post(url("residual"), {"likelihood": 2, "impact": 2}, format="json")
    assert response.json()["residual_level"] == "low"
    response = admin.post(url("close"), {"reason": ""}, format="json")
    assert response.status_code == 400
    assert (
        admin.post(url("close"), {"reason": "Retired"}, format="json").json()["status"] == "closed"
    )


def test_vulnerability_affected_devices_and_import(world, gateway_type, fleet, vuln):
    api = client(world.a.user(Role.AUDITOR))
    response = api.get(reverse("risk-vulnerability-affected-devices", args=[vuln.pk]))
    assert {d["id"] for d in response.json()["results"]} == {fleet["mid"].pk, fleet["odd"].pk}
    Device.objects.filter(pk=fleet["new"].pk).update(firmware_version="2.2.0")
    listing = api.get(reverse("risk-vulnerability-list")).json()["results"]
    assert listing[0]["affected_device_count"] == 3 and listing[0]["unverified_device_count"] == 1
    tech = client(world.site_technician)  # sees no device of another site: none here have a site
    affected = reverse("risk-vulnerability-affected-devices", args=[vuln.pk])
    assert tech.get(affected).json()["results"] == []

    feed = json.dumps(
        [
            {"identifier": "CVE-2026-8000", "title": "ok", "cvss_score": 4},
            {"identifier": "bad", "title": "no", "cvss_score": 4},
        ]
    ).encode()
    officer = client(officer_of(world.a))
    response = officer.post(
        reverse("risk-vulnerability-import"),
        {"file": SimpleUploadedFile("feed.json", feed)},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["row"] == "item 2"
    assert not Vulnerability.objects.filter(identifier="CVE-2026-8000").exists()
    good = json.dumps([{"identifier": "CVE-2026-8000", "title": "ok", "cvss_score": 4}]).encode()
    response = officer.post(
        reverse("risk-vulnerability-import"),
        {"file": SimpleUploadedFile("feed.json", good)},
        format="multipart",
    )
    assert response.status_code == 201 and response.json()["created"] == ["CVE-2026-8000"]
    assert (
        api.post(
            reverse("risk-vulnerability-import"),
            {"file": SimpleUploadedFile("feed.json", good)},
            format="multipart",
        ).status_code
        == 403
    )


def test_register_filters_and_csv_export_are_audited(world):
    high = risk_in(world.a, title="High one", likelihood=4, impact=4)
    risk_in(world.a, title="Low one", likelihood=1, impact=1)
    services.create_mitigation(
        high,
        actor=officer_of(world.a),
        title="Late",
        due_on=datetime.date.today() - datetime.timedelta(days=2),
    )
    api = client(world.a.user(Role.AUDITOR))
    rows = api.get(reverse("risk-list"), {"level": "high"}).json()["results"]
    assert [r["title"] for r in rows] == ["High one"]
    rows = api.get(reverse("risk-list"), {"overdue": "true"}).json()["results"]
    assert [r["title"] for r in rows] == ["High one"]
    response = api.get(reverse("risk-export"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = response.content.decode()
    assert "High one" in text and "Low one" in text
    assert AuditEntry.objects.filter(
        action="risk.register.export", organization=world.a.org
    ).exists()
    assert client(world.a.user(Role.OPERATOR)).get(reverse("risk-export")).content.count(b"\n") == 1


def test_list_query_counts_do_not_grow(world, django_assert_max_num_queries, gateway_type):
    def seed(n):
        for i in range(n):
            risk = risk_in(
                world.a,
                title=f"r{i}",
                assets=[
                    Asset.objects.create(
                        organization=world.a.org,
                        kind="service",
                        name=f"s{i}-{Asset.objects.count()}",
                    )
                ],
            )
            services.create_mitigation(risk, actor=officer_of(world.a), title="m")
            services.create_vulnerability(
                actor=officer_of(world.a),
                organization=world.a.org,
                identifier=f"CVE-2026-{9000 + Vulnerability.objects.count()}",
                title="v",
                cvss_score=3,
                affected=[{"device_type": gateway_type}],
            )

    api = client(world.a.user(Role.AUDITOR))
    seed(2)
    counts = {}
    for name in (
        "risk-list",
        "risk-mitigation-list",
        "risk-vulnerability-list",
        "risk-asset-list",
        "risk-export",
    ):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert api.get(reverse(name)).status_code == 200
        counts[name] = len(ctx.captured_queries)
    seed(6)
    for name, count in counts.items():
        with django_assert_max_num_queries(count):
            assert api.get(reverse(name)).status_code == 200
