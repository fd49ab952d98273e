"""CycloneDX 1.4-1.7, JSON and XML, through cyclonedx-python-lib (schema check, then its model)."""

import functools

from cyclonedx.model.bom import Bom
from cyclonedx.model.license import LicenseExpression
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonValidator
from cyclonedx.validation.xml import XmlValidator

from ..models.sbom import SbomFormat
from .parse import (
    CDX_NAMESPACE,
    CYCLONEDX_VERSIONS,
    ParsedBill,
    ParsedComponent,
    SbomError,
    normalise_purl,
    safe_element_tree,
    xml_root,
)


def _schema_version(text, where):
    if text not in CYCLONEDX_VERSIONS:
        raise SbomError(
            f"CycloneDX {text} is not accepted; send {', '.join(CYCLONEDX_VERSIONS)}.", where
        )
    return SchemaVersion.from_version(text)


@functools.cache
def _json_validator(schema_version):
    """The library's schema and registry, without ``format`` checks.

    jsonschema checks formats with whatever optional packages happen to be installed; with
    ``rfc3987-syntax`` present, checking the IRIs of a 100-component SBOM takes ten seconds or
    more. The structure is what we rely on; formats are left to the reading that follows.
    """
    return JsonValidator(schema_version)._validator.evolve(format_checker=None)


def _pointer(path):
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


def parse_cyclonedx_json(text, raw):
    spec = str(raw.get("specVersion", ""))
    schema_version = _schema_version(spec, "/specVersion")
    detail = next(_json_validator(schema_version).iter_errors(raw), None)
    if detail is not None:
        raise SbomError(
            f"Not valid CycloneDX {spec}: {detail.message}", _pointer(detail.absolute_path)
        )
    _check_identifiers_json(raw)
    try:
        bom = Bom.from_json(raw)
    except Exception as exc:  # the library's own reading errors, of many types
        raise SbomError(f"cyclonedx-python-lib could not read the document: {exc}") from exc
    return _from_bom(bom, SbomFormat.CYCLONEDX_JSON, spec)


def _check_identifiers_json(raw):
    def walk(components, base):
        for index, item in enumerate(components or ()):
            where = f"{base}/{index}"
            _check_one(item.get("purl"), item.get("cpe"), item.get("name"), where)
            walk(item.get("components"), f"{where}/components")

    root = (raw.get("metadata") or {}).get("component")
    if root:
        _check_one(root.get("purl"), root.get("cpe"), root.get("name"), "/metadata/component", True)
    walk(raw.get("components"), "/components")


def _check_one(purl, cpe, name, where, root=False):
    if purl:
        normalise_purl(purl, f"{where}/purl" if where.startswith("/") else where)
    elif not cpe and not root:
        raise SbomError(
            f"Component {name!r} has neither a purl nor a CPE: nothing could match it to "
            "vulnerabilities.",
            where,
        )


def parse_cyclonedx_xml(text):
    root = xml_root(text)
    match = CDX_NAMESPACE.match(root.tag)
    if not match:
        raise SbomError(
            "The root element is not a CycloneDX <bom> "
            "(namespace http://cyclonedx.org/schema/bom/<version>).",
            f"line {root.sourceline}",
        )
    spec = match.group(1)
    schema_version = _schema_version(spec, f"line {root.sourceline}")
    error = XmlValidator(schema_version).validate_str(text)
    if error is not None:
        entry = error.data
        raise SbomError(
            f"Not valid CycloneDX {spec}: {getattr(entry, 'message', entry)}",
            f"line {getattr(entry, 'line', '?')}",
        )
    ns = {"c": f"http://cyclonedx.org/schema/bom/{spec}"}
    for element in root.iterfind(".//c:component", ns):
        parent = element.getparent()
        is_root = parent is not None and parent.tag.endswith("}metadata")
        # Tools and pedigree ancestors describe other software, not what the image contains.
        if any(a.tag.endswith(("}tools", "}pedigree")) for a in element.iterancestors()):
            continue
        _check_one(
            element.findtext("c:purl", namespaces=ns),
            element.findtext("c:cpe", namespaces=ns),
            element.findtext("c:name", namespaces=ns),
            f"line {element.sourceline}",
            is_root,
        )
    try:
        bom = Bom.from_xml(safe_element_tree(text))
    except Exception as exc:  # the library's own reading errors, of many types
        raise SbomError(f"cyclonedx-python-lib could not read the document: {exc}") from exc
    return _from_bom(bom, SbomFormat.CYCLONEDX_XML, spec)


def _generator(bom):
    tools = bom.metadata.tools
    names = []
    for tool in [*tools.components, *tools.services]:
        names.append(" ".join(p for p in (tool.group, tool.name, tool.version) if p))
    for tool in tools.tools:
        names.append(" ".join(p for p in (tool.vendor, tool.name, tool.version) if p))
    return ", ".join(n for n in names if n)[:500]


def _licenses(component):
    out = []
    for lic in component.licenses:
        if isinstance(lic, LicenseExpression):
            out.append(lic.value)
        else:
            out.append(lic.id or lic.name or "")
    return [x for x in out if x]


def _component(c, is_root=False):
    purl = ""
    parts = None
    if c.purl is not None:
        purl, parts = normalise_purl(c.purl.to_string(), c.name)
    return ParsedComponent(
        bom_ref=str(c.bom_ref.value or "")[:500],
        name=(c.name or "")[:300],
        version=(c.version or "")[:200],
        type=c.type.value if c.type else "",
        group=(c.group or "")[:300],
        purl=purl,
        purl_type=parts.type if parts else "",
        purl_namespace=(parts.namespace or "") if parts else "",
        purl_name=parts.name if parts else "",
        cpe=(c.cpe or "")[:500],
        supplier=((c.supplier.name or "") if c.supplier else "")[:300],
        licenses=_licenses(c),
        hashes=[{"alg": h.alg.value, "content": h.content} for h in c.hashes],
        is_root=is_root,
    )


def _from_bom(bom, fmt, spec):
    components = []

    def walk(items):
        for c in items:
            components.append(_component(c))
            walk(c.components)

    if bom.metadata.component is not None:
        components.append(_component(bom.metadata.component, is_root=True))
        walk(bom.metadata.component.components)
    walk(bom.components)
    edges = []
    for dep in bom.dependencies:
        for target in dep.dependencies:
            edges.append((str(dep.ref.value), str(target.ref.value)))
    return ParsedBill(
        format=fmt,
        spec_version=spec,
        serial_number=f"urn:uuid:{bom.serial_number}" if bom.serial_number else "",
        document_name=(bom.metadata.component.name if bom.metadata.component else "")[:300],
        generator=_generator(bom),
        created_at=bom.metadata.timestamp,
        components=components,
        edges=edges,
    )
