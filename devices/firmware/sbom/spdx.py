"""SPDX 2.3, JSON and tag-value, through spdx-tools (its parser, then its full validator)."""

import re
import threading

from license_expression import ExpressionError
from spdx_tools.common.spdx_licensing import spdx_licensing
from spdx_tools.spdx.model import RelationshipType
from spdx_tools.spdx.parser.error import SPDXParsingError
from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
from spdx_tools.spdx.parser.logger import Logger
from spdx_tools.spdx.parser.tagvalue.helper_methods import grammar_rule
from spdx_tools.spdx.parser.tagvalue.lexer import SPDXLexer
from spdx_tools.spdx.parser.tagvalue.parser import Parser
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from ..models.sbom import SbomFormat
from .parse import SPDX_VERSIONS, ParsedBill, ParsedComponent, SbomError, normalise_purl

# Some generators (sbom4python) write the licence list version as 3.28.0; SPDX 2.3 (6.7) says
# M.N, and spdx-tools refuses anything else. It is informative only: read it as M.N.
LONG_LIST_VERSION = re.compile(r"^(\d+\.\d+)\.\d+$")
TAG_LIST_VERSION = re.compile(r"^(LicenseListVersion:\s*)(\d+\.\d+)\.\d+\s*$", re.MULTILINE)
LINE = re.compile(r"Line: (\d+)")


class _TagValueParser(Parser):
    """spdx-tools' tag-value grammar, reading licences with its shared licensing object.

    The original rule builds a new ``Licensing`` (and its tokenizer over the whole licence list)
    for every licence line, about 0.2 s each; the JSON parser already shares one. ply takes the
    first rule by line number as the grammar's start unless told, hence ``start``.
    """

    start = "start"

    @grammar_rule("license_or_no_assertion_or_none : LINE")
    def p_license(self, p):
        try:
            p[0] = spdx_licensing.parse(p[1])
        except ExpressionError as err:
            message = f"Error while parsing license expression: {p[1]}"
            if err.args:
                message += f": {err.args[0]}"
            self.current_element["logger"].append(message)


_parser = None
_parser_lock = threading.Lock()


def _parse_tag_value(text):
    """spdx-tools' tag-value parser, its LALR tables built once per process.

    ``Parser()`` builds the tables (seconds) every time; the grammar actions keep per-document
    state on the instance, so one instance is reset to what ``Parser.__init__`` sets and used by
    one document at a time.
    """
    global _parser
    with _parser_lock:
        if _parser is None:
            _parser = _TagValueParser(debug=False, write_tables=False, errorlog=_QuietLog())
        parser = _parser
        parser.logger = Logger()
        parser.current_element = {"logger": Logger()}
        parser.creation_info = {"logger": Logger()}
        parser.elements_built = {}
        parser.lex = SPDXLexer()
        parser.lex.build(reflags=re.UNICODE)
        return parser.parse(text)


class _QuietLog:
    """ply's grammar-building chatter is not ours to print."""

    def debug(self, *args, **kwargs):
        pass

    warning = error = info = critical = debug


def _check_version(version, where):
    if version not in SPDX_VERSIONS:
        raise SbomError(f"{version!r} is not accepted; send {', '.join(SPDX_VERSIONS)}.", where)


def _parsing_error(exc):
    messages = exc.get_messages()
    text = "; ".join(str(m) for m in messages)[:1000]
    line = LINE.search(text)
    return SbomError(
        f"spdx-tools could not read it: {text}", f"line {line.group(1)}" if line else ""
    )


def parse_spdx_json(raw):
    _check_version(str(raw.get("spdxVersion")), "/spdxVersion")
    info = raw.get("creationInfo")
    if isinstance(info, dict):
        version = str(info.get("licenseListVersion", ""))
        if LONG_LIST_VERSION.match(version):
            info["licenseListVersion"] = LONG_LIST_VERSION.match(version).group(1)
    try:
        document = JsonLikeDictParser().parse(raw)
    except SPDXParsingError as exc:
        raise _parsing_error(exc) from exc
    pointers = {
        str(p.get("SPDXID")): f"/packages/{i}"
        for i, p in enumerate(raw.get("packages") or [])
        if isinstance(p, dict)
    }
    return _from_document(document, SbomFormat.SPDX_JSON, pointers)


def parse_spdx_tag_value(text):
    version = re.search(r"^SPDXVersion:\s*(\S+)", text, re.MULTILINE)
    line = text[: version.start()].count("\n") + 1
    _check_version(version.group(1), f"line {line}")
    text = TAG_LIST_VERSION.sub(r"\g<1>\g<2>", text)
    try:
        document = _parse_tag_value(text)
    except SPDXParsingError as exc:
        raise _parsing_error(exc) from exc
    lines = {}
    for number, row in enumerate(text.splitlines(), start=1):
        if row.startswith("SPDXID:"):
            lines.setdefault(row.split(":", 1)[1].strip(), f"line {number}")
    return _from_document(document, SbomFormat.SPDX_TAG_VALUE, lines)


def _validate(document, places):
    messages = validate_full_spdx_document(document)
    if messages:
        first = messages[0]
        spdx_id = first.context.spdx_id or first.context.parent_id or ""
        where = places.get(spdx_id, spdx_id)
        extra = f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""
        raise SbomError(f"Not valid SPDX 2.3: {first.validation_message}{extra}", where)


def _text(value):
    """Strings of spdx-tools values (NOASSERTION / NONE become empty)."""
    if value is None:
        return ""
    name = type(value).__name__
    if name in ("SpdxNoAssertion", "SpdxNone"):
        return ""
    return str(value)


def _from_document(document, fmt, places):
    _validate(document, places)
    components = []
    described = {
        r.related_spdx_element_id
        for r in document.relationships
        if r.spdx_element_id == document.creation_info.spdx_id
        and r.relationship_type == RelationshipType.DESCRIBES
    }
    for package in document.packages:
        where = places.get(package.spdx_id, package.spdx_id)
        purl = cpe = ""
        parts = None
        for ref in package.external_references:
            if ref.reference_type == "purl" and not purl:
                purl, parts = normalise_purl(ref.locator, where)
            elif ref.reference_type in ("cpe23Type", "cpe22Type") and not cpe:
                cpe = ref.locator[:500]
        if not purl and not cpe and package.spdx_id not in described:
            raise SbomError(
                f"Package {package.name!r} has neither a purl nor a CPE external reference: "
                "nothing could match it to vulnerabilities.",
                where,
            )
        licenses = [
            _text(v) for v in (package.license_declared, package.license_concluded) if _text(v)
        ]
        supplier = package.supplier
        components.append(
            ParsedComponent(
                bom_ref=package.spdx_id[:500],
                name=package.name[:300],
                version=(package.version or "")[:200],
                type=(
                    package.primary_package_purpose.name.lower().replace("_", "-")
                    if package.primary_package_purpose
                    else "library"
                ),
                purl=purl,
                purl_type=parts.type if parts else "",
                purl_namespace=(parts.namespace or "") if parts else "",
                purl_name=parts.name if parts else "",
                cpe=cpe,
                supplier=(getattr(supplier, "name", "") or "")[:300],
                licenses=list(dict.fromkeys(licenses)),
                hashes=[
                    {"alg": c.algorithm.name.replace("_", "-"), "content": c.value}
                    for c in package.checksums
                ],
                is_root=package.spdx_id in described,
            )
        )
    edges = []
    for r in document.relationships:
        a, b = r.spdx_element_id, _text(r.related_spdx_element_id)
        if r.relationship_type == RelationshipType.DEPENDS_ON:
            edges.append((a, b))
        elif r.relationship_type == RelationshipType.DEPENDENCY_OF:
            edges.append((b, a))
    info = document.creation_info
    return ParsedBill(
        format=fmt,
        spec_version=info.spdx_version,
        serial_number=info.document_namespace[:500],
        document_name=info.name[:300],
        generator=", ".join(f"{c.actor_type.name.title()}: {c.name}" for c in info.creators)[:500],
        created_at=info.created,
        components=components,
        edges=edges,
    )
