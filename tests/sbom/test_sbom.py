"""SBOMs of firmware releases: real generated documents in, the same components out, refusals."""

import json

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from devices.firmware.models import Component, ComponentDependency, SoftwareBill
from devices.firmware.sbom import parse_document
from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role
from encompass.testing.api import api_key_client

pytestmark = pytest.mark.django_db


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def key_client(tenant, role="auditor"):
    return api_key_client(tenant, role, name="sbom-reader")


def post_sbom(client, release, data, name="sbom.json"):
    return client.post(
        f"/api/v1/firmware-releases/{release.pk}/sbom/",
        {"sbom": SimpleUploadedFile(name, data)},
        format="multipart",
    )


def purls_of(data):
    return {c.purl for c in parse_document(data).components if c.purl}


@pytest.mark.parametrize(
    ("doc", "fmt", "spec"),
    [
        ("cdx_json", "cyclonedx-json", "1.6"),
        ("cdx_xml", "cyclonedx-xml", "1.4"),
        ("spdx_json", "spdx-json", "SPDX-2.3"),
        ("spdx_tag", "spdx-tag-value", "SPDX-2.3"),
    ],
)
def test_generated_sbom_is_stored_with_its_components(world, release, generated, doc, fmt, spec):
    response = post_sbom(client_for(world.a.user(Role.OPERATOR)), release, generated[doc])
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["format"], body["spec_version"]) == (fmt, spec)
    bill = SoftwareBill.objects.get(pk=body["id"])
    assert bill.document.encode() == generated[doc].lstrip(b"\xef\xbb\xbf")
    assert bill.generator and bill.serial_number and bill.document_created_at
    components = Component.objects.filter(bill=bill)
    assert components.count() == bill.component_count > 0
    assert set(components.exclude(purl="").values_list("purl", flat=True)) == purls_of(
        generated[doc]
    )
    assert AuditEntry.objects.filter(action="firmware.softwarebill.create").count() == 1


def test_environment_sbom_keeps_dependency_edges_licences_and_versions(world, release, generated):
    raw = json.loads(generated["cdx_json"])
    post_sbom(client_for(world.a.user(Role.OPERATOR)), release, generated["cdx_json"])
    django = Component.objects.get(release=release, purl_name="django")
    import django as django_module

    assert django.version == django_module.get_version()
    assert django.purl == f"pkg:pypi/django@{django.version}"
    assert django.licenses
    expected_edges = sum(len(d.get("dependsOn", [])) for d in raw["dependencies"])
    assert ComponentDependency.objects.filter(bill__release=release).count() == expected_edges
    assert django.depends_on.filter(target__purl_name="asgiref").exists()


def test_spdx_relationships_become_edges(world, release, generated):
    post_sbom(client_for(world.a.user(Role.OPERATOR)), release, generated["spdx_json"])
    root = Component.objects.get(release=release, is_root=True)
    assert root.purl_name == "cyclonedx-python-lib"
    assert set(root.depends_on.values_list("target__purl_name", flat=True)) >= {
        "packageurl-python",
        "license-expression",
    }


@pytest.mark.parametrize("doc", ["cdx_json", "cdx_xml", "spdx_json", "spdx_tag"])
def test_export_round_trips_through_both_formats(world, release, generated, doc):
    client = client_for(world.a.user(Role.AUDITOR))
    post_sbom(client_for(world.a.user(Role.OPERATOR)), release, generated[doc])
    expected = purls_of(generated[doc])
    cdx = client.get(f"/api/v1/firmware-releases/{release.pk}/sbom/cyclonedx/")
    assert cdx.status_code == 200 and cdx["Content-Type"].startswith("application/vnd.cyclonedx")
    # The strict 1.6 schema (no unknown properties); formats unchecked, see sbom/cyclonedx.py.
    strict = JsonStrictValidator(SchemaVersion.V1_6)._validator.evolve(format_checker=None)
    assert list(strict.iter_errors(json.loads(cdx.content))) == []
    spdx = client.get(f"/api/v1/firmware-releases/{release.pk}/sbom/spdx/")
    assert spdx.status_code == 200
    for exported in (cdx.content, spdx.content):
        again = parse_document(exported)
        assert {c.purl for c in again.components if c.purl} == expected
        assert len(again.edges) == ComponentDependency.objects.filter(bill__release=release).count()
    original = client.get(f"/api/v1/firmware-releases/{release.pk}/sbom/document/")
    assert original.content == generated[doc].lstrip(b"\xef\xbb\xbf")


def _bad_json(generated):
    return generated["cdx_json"][:-40]


def _wrong_spec(generated):
    raw = json.loads(generated["cdx_json"])
    raw["specVersion"] = "1.2"
    return json.dumps(raw).encode()


def _schema_error(generated):
    raw = json.loads(generated["cdx_json"])
    raw["components"][2]["type"] = "gadget"
    return json.dumps(raw).encode()


def _missing_purl(generated):
    raw = json.loads(generated["cdx_json"])
    del raw["components"][3]["purl"]
    return json.dumps(raw).encode()


def _bad_purl(generated):
    raw = json.loads(generated["cdx_json"])
    raw["components"][1]["purl"] = "pypi/django"
    return json.dumps(raw).encode()


def _bad_xml(generated):
    return generated["cdx_xml"].replace(b"</components>", b"</component>", 1)


def _invalid_xml(generated):
    return generated["cdx_xml"].replace(b'type="library"', b'type="gadget"', 1)


def _spdx_22(generated):
    raw = json.loads(generated["spdx_json"])
    raw["spdxVersion"] = "SPDX-2.2"
    return json.dumps(raw).encode()


def _spdx_bad_id(generated):
    raw = json.loads(generated["spdx_json"])
    raw["packages"][1]["SPDXID"] = "not an id"
    return json.dumps(raw).encode()


def _tag_broken(generated):
    return generated["spdx_tag"].replace(b"PackageVersion: ", b"PackageVersion ", 1)


def _not_sbom(generated):
    return b'{"hello": "world"}'


@pytest.mark.parametrize(
    ("make", "message", "where"),
    [
        (_bad_json, "Not valid JSON", "line "),
        (_wrong_spec, "CycloneDX 1.2 is not accepted", "/specVersion"),
        (_schema_error, "Not valid CycloneDX 1.6", "/components/2/type"),
        (_missing_purl, "neither a purl nor a CPE", "/components/3"),
        (_bad_purl, "not a valid package URL", "/components/1/purl"),
        (_bad_xml, "Not well-formed XML", "line "),
        (_invalid_xml, "Not valid CycloneDX 1.4", "line "),
        (_spdx_22, "'SPDX-2.2' is not accepted", "/spdxVersion"),
        (_spdx_bad_id, "Not valid SPDX 2.3", "/packages/1"),
        (_tag_broken, "spdx-tools could not read it", "line "),
        (_not_sbom, "Neither CycloneDX", "/"),
    ],
)
def test_bad_documents_are_refused_naming_the_place(
    world, release, generated, make, message, where
):
    response = post_sbom(client_for(world.a.user(Role.OPERATOR)), release, make(generated))
    assert response.status_code == 400, response.content
    body = response.json()
    assert message in json.dumps(body), body
    assert where in json.dumps(body.get("sbom_location", "")), body
    assert not SoftwareBill.objects.exists() and not Component.objects.exists()


def test_oversized_document_is_refused(world, release, generated, settings):
    settings.ENCOMPASS = {**getattr(settings, "ENCOMPASS", {}), "SBOM_MAX_BYTES": 4096}
    response = post_sbom(client_for(world.a.user(Role.OPERATOR)), release, generated["cdx_json"])
    assert response.status_code == 400
    assert "4096-byte limit" in response.content.decode()
    assert not SoftwareBill.objects.exists()


def test_replacing_keeps_the_old_document_superseded(world, release, generated):
    client = client_for(world.a.user(Role.OPERATOR))
    first = post_sbom(client, release, generated["cdx_xml"]).json()
    second = post_sbom(client, release, generated["spdx_json"]).json()
    old = SoftwareBill.objects.get(pk=first["id"])
    assert old.superseded_at is not None and old.document
    assert not Component.objects.filter(bill=old, current=True).exists()
    current = client.get(f"/api/v1/firmware-releases/{release.pk}/sbom/").json()
    assert current["id"] == second["id"]
    assert AuditEntry.objects.filter(action="firmware.softwarebill.replace").count() == 1


@pytest.mark.parametrize("role", Role.values)
def test_upload_by_role(world, release, generated, role):
    response = post_sbom(client_for(world.a.user(role)), release, generated["cdx_xml"])
    writer = role in (Role.ADMIN, Role.SECURITY_OFFICER, Role.OPERATOR)
    assert response.status_code == (201 if writer else 403), (role, response.content)
    assert SoftwareBill.objects.exists() is writer
    read = client_for(world.a.user(role)).get(f"/api/v1/firmware-releases/{release.pk}/sbom/")
    assert read.status_code == (200 if writer else 404)


def test_tag_value_and_json_from_the_same_generator_agree(generated):
    as_json = {c.purl: c for c in parse_document(generated["spdx_json"]).components}
    as_tag = {c.purl: c for c in parse_document(generated["spdx_tag"]).components}
    assert as_json.keys() == as_tag.keys()
    for purl, component in as_json.items():
        assert (component.version, component.licenses, component.supplier, component.cpe) == (
            as_tag[purl].version,
            as_tag[purl].licenses,
            as_tag[purl].supplier,
            as_tag[purl].cpe,
        ), purl
    assert any(c.licenses for c in as_tag.values())
    assert len(parse_document(generated["spdx_tag"]).edges) == len(
        parse_document(generated["spdx_json"]).edges
    )
