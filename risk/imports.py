"""Import vulnerabilities from a JSON or CSV feed file: every row validated, all or nothing.

JSON: a list of objects (or ``{"vulnerabilities": [...]}``)::

    [{"identifier": "CVE-2026-0001", "title": "...", "cvss_vector": "CVSS:3.1/AV:N/...",
      "cvss_score": 9.8, "published_on": "2026-01-15", "references": ["https://..."],
      "status": "open", "description": "...",
      "affected": [{"manufacturer": "Acme", "model": "Gateway-9", "hardware_revision": "B",
                    "introduced_version": "2.0.0", "fixed_version": "2.4.1"}]}]

``affected[].device_type`` (a device type id) may replace manufacturer/model.

CSV: a header row, then one row per affected range; rows with the same identifier are one
vulnerability (its own columns must agree). Columns: identifier, title, description, cvss_score,
cvss_vector, published_on, references (separated by spaces), status, manufacturer, model,
hardware_revision, introduced_version, fixed_version.

An identifier already in the register is updated (its ranges replaced): importing the same feed
twice changes nothing. A manufacturer/model without hardware_revision matches every revision.
"""

import csv
import datetime
import io
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import transaction

from devices.models import DeviceType
from encompass.audit.services import record_audit
from encompass.events.services import record_event
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_can_create

from .models import Vulnerability
from .services.vulnerabilities import (
    build_vulnerability,
    comparable,
    create_vulnerability,
    update_vulnerability,
)

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
CSV_COLUMNS = (
    "identifier",
    "title",
    "description",
    "cvss_score",
    "cvss_vector",
    "published_on",
    "references",
    "status",
    "manufacturer",
    "model",
    "hardware_revision",
    "introduced_version",
    "fixed_version",
)
VULN_KEYS = (
    "identifier",
    "title",
    "description",
    "cvss_score",
    "cvss_vector",
    "published_on",
    "references",
    "status",
)


@dataclass
class RowError:
    row: str  # "line 4" (CSV) or "item 2" (JSON, counted from 1)
    field: str
    message: str

    def as_dict(self):
        return {"row": self.row, "field": self.field, "message": self.message}


class ImportRejected(ValidationError):
    """The feed has bad rows; nothing was imported. ``errors`` lists every one."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__({"file": [f"{e.row}, {e.field}: {e.message}" for e in errors[:200]]})


@dataclass
class ImportReport:
    created: list = field(default_factory=list)
    updated: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def as_dict(self):
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "warnings": self.warnings,
        }


@dataclass
class Entry:
    where: str
    fields: dict
    products: list  # [(where, {manufacturer, model, hardware_revision, device_type, ...})]


# --- parsing ------------------------------------------------------------------------------------


def _decode(content):
    if isinstance(content, str):
        return content
    if len(content) > MAX_BYTES:
        raise ImportRejected([RowError("file", "file", f"Larger than {MAX_BYTES} bytes.")])
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejected(
            [RowError("file", "file", f"Not UTF-8 text (byte {exc.start}).")]
        ) from exc


def detect_format(filename, text):
    name = (filename or "").lower()
    if name.endswith(".json"):
        return "json"
    if name.endswith(".csv"):
        return "csv"
    return "json" if text.lstrip()[:1] in ("[", "{") else "csv"


def _parse_json(text, errors):
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        errors.append(RowError(f"line {exc.lineno}", "file", f"Invalid JSON: {exc.msg}."))
        return []
    if isinstance(data, dict):
        data = data.get("vulnerabilities")
    if not isinstance(data, list):
        errors.append(
            RowError("file", "file", 'Expected a list of objects (or {"vulnerabilities": [...]}).')
        )
        return []
    entries = []
    for index, item in enumerate(data, start=1):
        where = f"item {index}"
        if not isinstance(item, dict):
            errors.append(RowError(where, "item", "Must be an object."))
            continue
        unknown = set(item) - set(VULN_KEYS) - {"affected"}
        for name in sorted(unknown):
            errors.append(RowError(where, name, "Unknown field."))
        affected = item.get("affected", [])
        if not isinstance(affected, list) or not all(isinstance(a, dict) for a in affected):
            errors.append(RowError(where, "affected", "Must be a list of objects."))
            affected = []
        entries.append(
            Entry(
                where,
                {k: item[k] for k in VULN_KEYS if k in item},
                [(f"{where}, affected[{i}]", a) for i, a in enumerate(affected, start=1)],
            )
        )
    return entries


def _parse_csv(text, errors):
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in ("identifier", "title") if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        if missing:
            errors.append(RowError("line 1", ", ".join(missing), "Missing column."))
        for name in unknown:
            errors.append(
                RowError("line 1", name, f"Unknown column (use {', '.join(CSV_COLUMNS)}).")
            )
        return []
    by_id = {}
    entries = []
    for row in reader:
        where = f"line {reader.line_num}"
        if None in row:
            errors.append(RowError(where, "row", "More values than columns."))
            continue
        values = {k: (v or "").strip() for k, v in row.items()}
        fields = {k: values[k] for k in VULN_KEYS if k in values and values[k] != ""}
        if "references" in fields:
            fields["references"] = fields["references"].split()
        product = {
            k: values.get(k, "")
            for k in (
                "manufacturer",
                "model",
                "hardware_revision",
                "introduced_version",
                "fixed_version",
            )
        }
        has_product = any(product.values())
        key = fields.get("identifier", "")
        entry = by_id.get(key) if key else None
        if entry is None:
            entry = Entry(where, fields, [])
            entries.append(entry)
            if key:
                by_id[key] = entry
        else:
            for name, value in fields.items():
                if entry.fields.get(name, value) != value:
                    errors.append(
                        RowError(
                            where, name, f"Differs from {entry.where} for the same identifier."
                        )
                    )
        if has_product:
            entry.products.append((where, product))
    return entries


# --- validation ---------------------------------------------------------------------------------


def _coerce(entry, errors):
    fields = dict(entry.fields)
    if fields.get("cvss_score") not in (None, ""):
        try:
            fields["cvss_score"] = Decimal(str(fields["cvss_score"]))
        except InvalidOperation:
            errors.append(RowError(entry.where, "cvss_score", "Not a number."))
            fields.pop("cvss_score")
    else:
        fields.pop("cvss_score", None)
    if fields.get("published_on"):
        try:
            fields["published_on"] = datetime.date.fromisoformat(str(fields["published_on"]))
        except ValueError:
            errors.append(RowError(entry.where, "published_on", "Use YYYY-MM-DD."))
            fields.pop("published_on")
    return fields


class _TypeIndex:
    def __init__(self, organization):
        self.by_pk = {}
        self.by_name = {}
        for dt in DeviceType.objects.filter(organization=organization):
            self.by_pk[dt.pk] = dt
            key = (dt.manufacturer.casefold(), dt.model.casefold())
            self.by_name.setdefault(key, []).append(dt)

    def find(self, product):
        if product.get("device_type") not in (None, ""):
            found = self.by_pk.get(product["device_type"])
            return [found] if found else [], f"device type {product['device_type']}"
        manufacturer = str(product.get("manufacturer") or "").strip()
        model = str(product.get("model") or "").strip()
        revision = str(product.get("hardware_revision") or "").strip()
        label = f"{manufacturer} {model}".strip() + (f" rev {revision}" if revision else "")
        if not manufacturer or not model:
            return None, label
        found = self.by_name.get((manufacturer.casefold(), model.casefold()), [])
        if revision:
            found = [dt for dt in found if dt.hardware_revision.casefold() == revision.casefold()]
        return found, label


def validate_feed(organization, content, *, filename="", ignore_unknown_device_types=False):
    """Parse and validate a feed; return ``[(existing or None, fields, affected)]`` and warnings.

    Raises ``ImportRejected`` listing every bad row and field.
    """
    text = _decode(content)
    errors = []
    fmt = detect_format(filename, text)
    entries = _parse_json(text, errors) if fmt == "json" else _parse_csv(text, errors)
    if len(entries) > MAX_ROWS:
        errors.append(RowError("file", "file", f"More than {MAX_ROWS} vulnerabilities."))
    if not entries and not errors:
        errors.append(RowError("file", "file", "The file holds no vulnerabilities."))
    types = _TypeIndex(organization)
    existing = {v.identifier: v for v in Vulnerability.objects.filter(organization=organization)}
    seen = {}
    plan, warnings = [], []
    for entry in entries:
        fields = _coerce(entry, errors)
        identifier = str(fields.get("identifier", "")).strip()
        if identifier in seen:
            errors.append(
                RowError(
                    entry.where, "identifier", f"{identifier} appears again ({seen[identifier]})."
                )
            )
            continue
        seen[identifier] = entry.where
        affected = []
        for where, product in entry.products:
            matches, label = types.find(product)
            if matches is None:
                errors.append(
                    RowError(where, "manufacturer", "Give manufacturer and model, or device_type.")
                )
                continue
            if not matches:
                if ignore_unknown_device_types:
                    warnings.append(f"{where}: no device type {label}; range skipped.")
                    continue
                errors.append(
                    RowError(where, "model", f"No device type {label} in {organization}.")
                )
                continue
            for device_type in matches:
                affected.append(
                    {
                        "device_type": device_type,
                        "introduced_version": str(product.get("introduced_version") or ""),
                        "fixed_version": str(product.get("fixed_version") or ""),
                    }
                )
        current = existing.get(identifier)
        instance = None
        if current is not None:
            instance = Vulnerability.objects.get(pk=current.pk)  # a scratch copy to validate on
        try:
            built, products = build_vulnerability(organization, fields, affected, instance=instance)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                for message in messages:
                    errors.append(RowError(entry.where, name, message))
            continue
        changed = current is None or comparable(built, products) != comparable(
            current, current.affected_products.all()
        )
        plan.append((current, fields, affected, changed))
    if errors:
        raise ImportRejected(errors)
    return plan, warnings


@transaction.atomic
def import_vulnerabilities(
    organization, content, *, actor, filename="", ignore_unknown_device_types=False
):
    """Validate the whole feed, then write it in one transaction; returns an ``ImportReport``."""
    ensure_can_create(actor, Vulnerability, organization)
    plan, warnings = validate_feed(
        organization,
        content,
        filename=filename,
        ignore_unknown_device_types=ignore_unknown_device_types,
    )
    report = ImportReport(warnings=warnings)
    for current, fields, affected, changed in plan:
        if not changed:
            report.unchanged.append(current.identifier)
            continue
        if current is None:
            vuln = create_vulnerability(
                actor=actor, organization=organization, affected=affected, **fields
            )
            report.created.append(vuln.identifier)
            continue
        vuln = update_vulnerability(current, actor=actor, affected=affected, **fields)
        report.updated.append(vuln.identifier)
    record_audit(
        "risk.vulnerability.import",
        actor=actor,
        organization=organization,
        object_repr=filename or "feed",
        changes={"file": filename, **report.as_dict()},
    )
    record_event(
        "vulnerability.imported",
        organization=organization,
        payload={
            "file": filename,
            "created": len(report.created),
            "updated": len(report.updated),
            "unchanged": len(report.unchanged),
        },
    )
    return report
