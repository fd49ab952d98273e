"""Parse an uploaded SBOM into plain records, or refuse it naming the place in the file.

CycloneDX (1.4 to 1.7, JSON and XML) is validated against the schema shipped with
``cyclonedx-python-lib`` and read by it; SPDX 2.3 (JSON and tag-value) is read and validated by
``spdx-tools``; every purl is parsed and normalised by ``packageurl-python``. Nothing here writes.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from defusedxml import ElementTree as SafeElementTree
from lxml import etree
from packageurl import PackageURL

from .. import conf
from ..models.sbom import SbomFormat

CYCLONEDX_VERSIONS = ("1.4", "1.5", "1.6", "1.7")
SPDX_VERSIONS = ("SPDX-2.3",)
CDX_NAMESPACE = re.compile(r"^\{http://cyclonedx\.org/schema/bom/(\d+\.\d+)\}bom$")


class SbomError(Exception):
    """The document is refused; ``where`` is a JSON pointer, ``line N`` or an element id."""

    def __init__(self, message, where=""):
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self):
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass
class ParsedComponent:
    bom_ref: str
    name: str
    version: str = ""
    type: str = ""
    group: str = ""
    purl: str = ""
    purl_type: str = ""
    purl_namespace: str = ""
    purl_name: str = ""
    cpe: str = ""
    supplier: str = ""
    licenses: list = field(default_factory=list)
    hashes: list = field(default_factory=list)
    is_root: bool = False


@dataclass
class ParsedBill:
    format: str
    spec_version: str
    serial_number: str = ""
    document_name: str = ""
    generator: str = ""
    created_at: datetime | None = None
    components: list = field(default_factory=list)
    edges: list = field(default_factory=list)  # (source bom_ref, target bom_ref)


def _limit(name):
    return int(conf.get(name))


def normalise_purl(text, where):
    """The canonical string of a purl, and its parts; SbomError when it is not one."""
    try:
        purl = PackageURL.from_string(str(text).strip())
    except ValueError as exc:
        raise SbomError(f"{text!r} is not a valid package URL: {exc}", where) from exc
    return purl.to_string(), purl


def _decode(data):
    if isinstance(data, str):
        return data
    limit = _limit("SBOM_MAX_BYTES")
    if len(data) > limit:
        raise SbomError(f"The document is {len(data)} bytes; the limit is {limit}.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SbomError(f"Not UTF-8 text (byte {exc.start} cannot be decoded).") from exc


def parse_document(data):
    """``ParsedBill`` of an SBOM given as bytes or text (format detected from the content)."""
    text = _decode(data)
    limit = _limit("SBOM_MAX_BYTES")
    if len(text.encode()) > limit:
        raise SbomError(f"The document is larger than the {limit}-byte limit.")
    stripped = text.lstrip()
    if not stripped:
        raise SbomError("The document is empty.")
    if stripped[0] in "{[":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SbomError(
                f"Not valid JSON: {exc.msg}", f"line {exc.lineno} column {exc.colno}"
            ) from exc
        if not isinstance(raw, dict):
            raise SbomError("An SBOM is a JSON object.", "/")
        if raw.get("bomFormat") == "CycloneDX":
            from .cyclonedx import parse_cyclonedx_json

            bill = parse_cyclonedx_json(text, raw)
        elif "spdxVersion" in raw:
            from .spdx import parse_spdx_json

            bill = parse_spdx_json(raw)
        else:
            raise SbomError(
                'Neither CycloneDX ("bomFormat": "CycloneDX") nor SPDX ("spdxVersion").', "/"
            )
    elif stripped[0] == "<":
        from .cyclonedx import parse_cyclonedx_xml

        bill = parse_cyclonedx_xml(text)
    elif re.search(r"^SPDXVersion\s*:", text, re.MULTILINE):
        from .spdx import parse_spdx_tag_value

        bill = parse_spdx_tag_value(text)
    else:
        raise SbomError(
            "Unrecognised format: send CycloneDX JSON or XML, or SPDX 2.3 JSON or tag-value."
        )
    _check_bill(bill)
    return bill


def _check_bill(bill):
    limit = _limit("SBOM_MAX_COMPONENTS")
    if len(bill.components) > limit:
        raise SbomError(f"{len(bill.components)} components; the limit is {limit}.")
    seen = set()
    for component in bill.components:
        if component.bom_ref in seen:
            raise SbomError(f"Two components share the reference {component.bom_ref!r}.")
        seen.add(component.bom_ref)
    bill.edges = [(a, b) for a, b in dict.fromkeys(bill.edges) if a in seen and b in seen]


def xml_root(text):
    """Parse XML safely (no DTDs, entities or network) with line numbers for errors."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        return etree.fromstring(text.encode(), parser)
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else exc.lineno
        raise SbomError(f"Not well-formed XML: {exc.msg}", f"line {line}") from exc


def safe_element_tree(text):
    """The standard library's tree (what cyclonedx-python-lib reads), parsed by defusedxml."""
    return SafeElementTree.fromstring(text.encode())


__all__ = [
    "CDX_NAMESPACE",
    "CYCLONEDX_VERSIONS",
    "SPDX_VERSIONS",
    "ParsedBill",
    "ParsedComponent",
    "SbomError",
    "SbomFormat",
    "normalise_purl",
    "parse_document",
]
