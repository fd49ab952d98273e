"""Write a stored SBOM again as CycloneDX 1.6 JSON or SPDX 2.3 JSON, with the same libraries."""

import io
import re
import uuid

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import HashAlgorithm, HashType
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.model.component import ComponentType
from cyclonedx.model.contact import OrganizationalEntity
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL
from spdx_tools.common.spdx_licensing import spdx_licensing
from spdx_tools.spdx.model import (
    Actor,
    ActorType,
    Checksum,
    ChecksumAlgorithm,
    CreationInfo,
    Document,
    ExternalPackageRef,
    ExternalPackageRefCategory,
    Package,
    Relationship,
    RelationshipType,
    SpdxNoAssertion,
)
from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

NAMESPACE = uuid.UUID("6c1f2d8e-3b52-4c57-9a8e-2f0b9e0d51a7")
TOOL = "Encompass"


def _rows(bill):
    components = list(bill.components.all().order_by("pk"))
    edges = list(bill.dependencies.values_list("source_id", "target_id"))
    return components, edges


def _cdx_type(value):
    try:
        return ComponentType(value)
    except ValueError:
        return ComponentType.LIBRARY


def to_cyclonedx_json(bill):
    """CycloneDX 1.6 JSON text of ``bill`` (serial number stable per stored SBOM)."""
    components, edges = _rows(bill)
    licenses = LicenseFactory()
    bom = Bom(serial_number=uuid.uuid5(NAMESPACE, f"cyclonedx:{bill.pk}:{bill.sha256}"))
    bom.metadata.tools.components.add(CdxComponent(type=ComponentType.APPLICATION, name=TOOL))
    by_pk = {}
    for row in components:
        hashes = []
        for h in row.hashes:
            try:
                hashes.append(HashType(alg=HashAlgorithm(h["alg"]), content=h["content"]))
            except (ValueError, KeyError):
                continue  # an algorithm CycloneDX has no name for (e.g. SPDX's ADLER32)
        item = CdxComponent(
            type=_cdx_type(row.type),
            name=row.name,
            version=row.version or None,
            group=row.group or None,
            bom_ref=row.bom_ref,
            purl=PackageURL.from_string(row.purl) if row.purl else None,
            cpe=row.cpe or None,
            supplier=OrganizationalEntity(name=row.supplier) if row.supplier else None,
            licenses=[licenses.make_from_string(x) for x in row.licenses[:1]],
            hashes=hashes,
        )
        by_pk[row.pk] = item
        if row.is_root and bom.metadata.component is None:
            bom.metadata.component = item
        else:
            bom.components.add(item)
    targets = {}
    for source, target in edges:
        targets.setdefault(source, []).append(by_pk[target])
    for source, items in targets.items():
        bom.register_dependency(by_pk[source], items)
    outputter = make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_6)
    return outputter.output_as_string(indent=2)


def _spdx_id(text, used):
    base = "SPDXRef-" + (re.sub(r"[^A-Za-z0-9.-]", "-", text).strip("-") or "component")
    if base.startswith("SPDXRef-SPDXRef-"):
        base = base[len("SPDXRef-") :]
    candidate, n = base, 1
    while candidate in used:
        n += 1
        candidate = f"{base}-{n}"
    used.add(candidate)
    return candidate


def _is_spdx_expression(value):
    try:
        return not spdx_licensing.validate(value, strict=True).errors
    except Exception:  # the licensing library raises on some malformed expressions
        return False


def _spdx_license(values):
    """An SPDX expression of the licences that are SPDX expressions; names go to the comment."""
    valid = [v for v in values if _is_spdx_expression(v)]
    names = [v for v in values if v not in valid]
    expression = (
        spdx_licensing.parse(" AND ".join(f"({v})" for v in valid)) if valid else SpdxNoAssertion()
    )
    return expression, ("Licences named by the SBOM: " + "; ".join(names)) if names else None


def _checksum(h):
    try:
        return Checksum(ChecksumAlgorithm[h["alg"].replace("-", "_").upper()], h["content"])
    except KeyError:
        return None


def to_spdx_json(bill, *, name):
    """SPDX 2.3 JSON text of ``bill``, validated by spdx-tools as it is written."""
    components, edges = _rows(bill)
    info = CreationInfo(
        spdx_version="SPDX-2.3",
        spdx_id="SPDXRef-DOCUMENT",
        name=name,
        document_namespace=f"https://encompass.invalid/spdx/{bill.organization_id}/"
        f"{uuid.uuid5(NAMESPACE, f'spdx:{bill.pk}:{bill.sha256}')}",
        creators=[Actor(ActorType.TOOL, TOOL)],
        created=bill.created_at.replace(microsecond=0, tzinfo=None),
    )
    used = {"SPDXRef-DOCUMENT"}
    ids = {}
    packages = []
    for row in components:
        spdx_id = _spdx_id(row.bom_ref, used)
        ids[row.pk] = spdx_id
        refs = []
        if row.purl:
            refs.append(
                ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", row.purl)
            )
        if row.cpe:
            kind = "cpe23Type" if row.cpe.startswith("cpe:2.3:") else "cpe22Type"
            refs.append(ExternalPackageRef(ExternalPackageRefCategory.SECURITY, kind, row.cpe))
        declared, comment = _spdx_license(row.licenses)
        packages.append(
            Package(
                spdx_id=spdx_id,
                name=row.name,
                download_location=SpdxNoAssertion(),
                version=row.version or None,
                supplier=Actor(ActorType.ORGANIZATION, row.supplier) if row.supplier else None,
                files_analyzed=False,
                license_declared=declared,
                license_comment=comment,
                checksums=[c for c in map(_checksum, row.hashes) if c is not None],
                external_references=refs,
            )
        )
    relationships = [
        Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, ids[row.pk])
        for row in components
        if row.is_root
    ] or [
        Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, ids[row.pk])
        for row in components[:1]
    ]
    relationships += [Relationship(ids[a], RelationshipType.DEPENDS_ON, ids[b]) for a, b in edges]
    document = Document(creation_info=info, packages=packages, relationships=relationships)
    stream = io.StringIO()
    write_document_to_stream(document, stream, validate=True)
    return stream.getvalue()
