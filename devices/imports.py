"""Importing devices from CSV: validated row by row, all or nothing.

The file's first line names the columns (any order; unknown columns are refused)::

    serial_number,name,device_type,site,tags,owner,criticality,network_address,
    commissioned_on,warranty_until,location_notes

``device_type`` is ``manufacturer/model`` or ``manufacturer/model/revision`` or the type's id;
``site`` a site slug of the organization; ``tags`` ``a;b`` (new tags are created); ``owner`` the
username of a member of the organization; dates ``YYYY-MM-DD``. Only ``serial_number``, ``name``
and ``device_type`` are required.

Every row is checked before anything is written. One bad row and nothing is imported: the
report lists every problem with its line number and column. A good file creates every device
through ``register_device`` (one audit entry each) plus one audit entry for the import.
"""

import csv
import datetime
import io
import ipaddress
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction

from encompass.audit.services import record_audit
from encompass.events.services import record_event
from encompass.exceptions import NotPermitted
from encompass.tenancy.access import ensure_can_create
from encompass.tenancy.models import Membership, Organization, Site

from .choices import Criticality
from .models import Device, DeviceType, Tag

REQUIRED_COLUMNS = ("serial_number", "name", "device_type")
OPTIONAL_COLUMNS = (
    "site",
    "tags",
    "owner",
    "criticality",
    "network_address",
    "commissioned_on",
    "warranty_until",
    "location_notes",
)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
MAX_ROWS = 5000
MAX_BYTES = 5 * 1024 * 1024


@dataclass
class RowError:
    line: int
    field: str
    message: str

    def as_dict(self):
        return {"line": self.line, "field": self.field, "message": self.message}

    def __str__(self):
        return f"line {self.line}, {self.field}: {self.message}"


@dataclass
class ImportReport:
    """What an import did (or would do, for a dry run), or every reason it did nothing."""

    rows: int = 0
    dry_run: bool = False
    errors: list = field(default_factory=list)
    created: list = field(default_factory=list)  # Device rows (empty for a dry run or a refusal)
    planned: list = field(default_factory=list)  # one dict per valid row

    @property
    def ok(self):
        return not self.errors

    def as_dict(self):
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "created": [
                {"id": d.pk, "uid": d.uid, "serial_number": d.serial_number} for d in self.created
            ],
            "errors": [e.as_dict() for e in self.errors],
        }


def _text(source):
    if hasattr(source, "read"):
        source = source.read(MAX_BYTES + 1)
    if isinstance(source, bytes):
        if len(source) > MAX_BYTES:
            raise ValueError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
        try:
            return source.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(f"The file is not UTF-8 text (byte {exc.start}).") from exc
    if len(source) > MAX_BYTES:
        raise ValueError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    return source.lstrip("\ufeff")


def _date(value):
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise DjangoValidationError(f"{value!r} is not a date (use YYYY-MM-DD).") from None


class _Lookups:
    """The organization's types, sites, tags and members, read once for the whole file."""

    def __init__(self, organization):
        self.organization = organization
        types = list(DeviceType.objects.filter(organization=organization))
        self.types_by_id = {str(t.pk): t for t in types}
        self.types_by_key = {}
        for t in types:
            key = (t.manufacturer.casefold(), t.model.casefold())
            self.types_by_key[(*key, t.hardware_revision.casefold())] = t
            self.types_by_key.setdefault(key, []).append(t)
        self.sites = {s.slug: s for s in Site.objects.filter(organization=organization)}
        self.tags = {t.name: t for t in Tag.objects.filter(organization=organization)}
        self.members = {
            m.user.get_username(): m.user
            for m in Membership.objects.filter(organization=organization).select_related("user")
        }
        self.existing_serials = set(
            Device.objects.filter(organization=organization).values_list(
                "manufacturer", "serial_number"
            )
        )

    def device_type(self, value):
        if value.isdigit():
            found = self.types_by_id.get(value)
            if found is None:
                raise DjangoValidationError(f"No device type with id {value} in this organization.")
            return found
        parts = [p.strip().casefold() for p in value.split("/")]
        if len(parts) == 3:
            found = self.types_by_key.get(tuple(parts))
        elif len(parts) == 2:
            candidates = self.types_by_key.get(tuple(parts), [])
            if len(candidates) > 1:
                revisions = ", ".join(t.hardware_revision or "(none)" for t in candidates)
                raise DjangoValidationError(
                    f"{value!r} has several hardware revisions ({revisions}); "
                    "write manufacturer/model/revision."
                )
            found = candidates[0] if candidates else None
        else:
            raise DjangoValidationError(
                f"{value!r}: write manufacturer/model, manufacturer/model/revision or the type id."
            )
        if found is None:
            raise DjangoValidationError(f"No device type {value!r} in this organization.")
        return found


def _validate_row(raw, lookups, actor):
    """``(fields, tag_names, errors)`` for one row; ``errors`` is ``[(field, message)]``."""
    errors = []
    values = {k: (raw.get(k) or "").strip() for k in COLUMNS}
    data = {}
    for name in REQUIRED_COLUMNS:
        if not values[name]:
            errors.append((name, "Required."))
    if values["device_type"]:
        try:
            data["device_type"] = lookups.device_type(values["device_type"])
        except DjangoValidationError as exc:
            errors.append(("device_type", exc.messages[0]))
    site = None
    if values["site"]:
        site = lookups.sites.get(values["site"])
        if site is None:
            errors.append(("site", f"No site {values['site']!r} in {lookups.organization}."))
    data["site"] = site
    if not any(f == "site" for f, _ in errors):
        try:
            ensure_can_create(actor, Device, lookups.organization, site)
        except NotPermitted:
            where = f"at site {site.slug}" if site else "in this organization"
            errors.append(("site", f"You may not add devices {where}."))
    tag_names = [t.strip() for t in values["tags"].split(";") if t.strip()]
    for tag in tag_names:
        try:
            validate_slug(tag)
        except DjangoValidationError:
            errors.append(("tags", f"{tag!r}: use letters, digits, hyphens and underscores."))
    if values["owner"]:
        data["owner"] = lookups.members.get(values["owner"])
        if data["owner"] is None:
            errors.append(("owner", f"{values['owner']!r} is not a member of this organization."))
    if values["criticality"]:
        if values["criticality"].lower() not in Criticality.values:
            errors.append(
                (
                    "criticality",
                    f"{values['criticality']!r}: use one of {', '.join(Criticality.values)}.",
                )
            )
        else:
            data["criticality"] = values["criticality"].lower()
    if values["network_address"]:
        try:
            data["network_address"] = str(ipaddress.ip_address(values["network_address"]))
        except ValueError:
            errors.append(
                ("network_address", f"{values['network_address']!r} is not an IP address.")
            )
    for name in ("commissioned_on", "warranty_until"):
        if values[name]:
            try:
                data[name] = _date(values[name])
            except DjangoValidationError as exc:
                errors.append((name, exc.messages[0]))
    for name in ("serial_number", "name", "location_notes"):
        if values[name]:
            data[name] = values[name]
    if not errors:
        device = Device(organization=lookups.organization, **data)
        try:
            device.full_clean(exclude=["tags"], validate_unique=False, validate_constraints=False)
        except DjangoValidationError as exc:
            for name, messages in exc.message_dict.items():
                errors.extend((name, m) for m in messages)
    return data, tag_names, errors


def validate_csv(source, *, organization, actor):
    """Parse and check every row; returns an ``ImportReport`` with ``planned`` rows or errors."""
    report = ImportReport()
    if not Organization.objects.restrict(actor, "view").filter(pk=organization.pk).exists():
        raise NotPermitted("You may not import devices into this organization.")
    try:
        text = _text(source)
    except ValueError as exc:
        report.errors.append(RowError(0, "file", str(exc)))
        return report
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        report.errors.append(RowError(1, "header", "The file is empty: give a header line."))
        return report
    reader.fieldnames = header
    unknown = [h for h in header if h not in COLUMNS]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if unknown:
        report.errors.append(
            RowError(
                1, "header", f"Unknown column(s) {', '.join(unknown)}; known: {', '.join(COLUMNS)}."
            )
        )
    if missing:
        report.errors.append(RowError(1, "header", f"Missing column(s): {', '.join(missing)}."))
    if report.errors:
        return report
    lookups = _Lookups(organization)
    seen = {}
    try:
        for raw in reader:
            line = reader.line_num
            if not any((v or "").strip() for k, v in raw.items() if k is not None):
                continue  # a blank line
            report.rows += 1
            if report.rows > MAX_ROWS:
                report.errors.append(
                    RowError(line, "file", f"More than {MAX_ROWS} rows; split the file.")
                )
                break
            if raw.get(None):
                report.errors.append(RowError(line, "row", "More values than columns."))
                continue
            data, tag_names, errors = _validate_row(raw, lookups, actor)
            report.errors.extend(RowError(line, f, m) for f, m in errors)
            if errors:
                continue
            key = (data["device_type"].manufacturer, data["serial_number"])
            if key in lookups.existing_serials:
                report.errors.append(
                    RowError(
                        line, "serial_number", f"{key[0]} serial {key[1]} is already registered."
                    )
                )
                continue
            if key in seen:
                report.errors.append(
                    RowError(line, "serial_number", f"Same {key[0]} serial as line {seen[key]}.")
                )
                continue
            seen[key] = line
            report.planned.append({"line": line, "fields": data, "tags": tag_names})
    except csv.Error as exc:
        report.errors.append(RowError(reader.line_num, "file", f"Not valid CSV: {exc}."))
    if report.rows == 0 and not report.errors:
        report.errors.append(RowError(2, "file", "No device rows after the header."))
    return report


def import_devices(source, *, organization, actor, dry_run=False, filename=""):
    """Validate ``source`` (text, bytes or a file) and, unless ``dry_run``, create every device.

    All or nothing: returns the report; when ``report.errors`` is not empty nothing was written.
    """
    from .services import create_tag, register_device

    report = validate_csv(source, organization=organization, actor=actor)
    report.dry_run = dry_run
    if report.errors or dry_run:
        return report
    try:
        with transaction.atomic():
            tags = {}
            for row in report.planned:
                for name in row["tags"]:
                    if name not in tags:
                        tags[name] = create_tag(organization, name, actor=actor)
                device = register_device(
                    actor=actor,
                    organization=organization,
                    tags=[tags[n] for n in row["tags"]],
                    **row["fields"],
                )
                report.created.append(device)
            record_audit(
                "devices.device.import",
                actor=actor,
                organization=organization,
                object_repr=f"CSV import of {len(report.created)} device(s)",
                changes={
                    "filename": filename,
                    "rows": report.rows,
                    "devices": [d.uid for d in report.created],
                },
            )
            record_event(
                "device.imported",
                organization=organization,
                payload={"count": len(report.created), "filename": filename},
            )
    except (DjangoValidationError, NotPermitted, IntegrityError) as exc:
        # Something changed between validation and writing (a concurrent registration).
        line = report.planned[len(report.created)]["line"] if report.planned else 0
        text = "; ".join(exc.messages) if isinstance(exc, DjangoValidationError) else str(exc)
        report.errors.append(RowError(line, "row", text))
        report.created = []
    return report
