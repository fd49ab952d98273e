"""Reading and writing SBOM documents (CycloneDX, SPDX) with the ecosystem's own libraries."""

from .parse import ParsedBill, ParsedComponent, SbomError, parse_document

__all__ = ["ParsedBill", "ParsedComponent", "SbomError", "parse_document"]
