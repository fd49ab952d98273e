"""SBOMs of releases: attach (parse, then store all or nothing) and the reverse look-ups."""

import datetime
import hashlib

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from devices.models import Device
from encompass.audit.services import record_audit
from encompass.events.services import record_event
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_can_create, ensure_permitted

from ..models import Component, ComponentDependency, FirmwareRelease, SoftwareBill
from ..sbom import SbomError, parse_document
from .common import user_or_none
from .releases import upload_filename


def read_upload(document):
    """Bytes of an uploaded file (or bytes / text as given), refusing oversized ones unread."""
    from .. import conf

    limit = int(conf.get("SBOM_MAX_BYTES"))
    if document is None:
        raise ValidationError({"sbom": "Attach the SBOM document."})
    if isinstance(document, str):
        document = document.encode()
    if isinstance(document, bytes):
        data = document
    else:
        declared = getattr(document, "size", None)
        if declared is not None and declared > limit:
            raise ValidationError({"sbom": f"The SBOM is larger than the {limit}-byte limit."})
        if hasattr(document, "seek"):
            document.seek(0)
        data = document.read(limit + 1)
    if len(data) > limit:
        raise ValidationError({"sbom": f"The SBOM is larger than the {limit}-byte limit."})
    return data


@transaction.atomic
def attach_sbom(release, document, *, actor):
    """Parse ``document`` and make it the release's SBOM; a previous one is kept, superseded.

    A document that does not parse or validate is refused (``ValidationError`` naming the place
    in the file) and nothing is stored.
    """
    ensure_permitted(actor, "view", release)
    ensure_can_create(actor, SoftwareBill, release.organization)
    data = read_upload(document)
    try:
        parsed = parse_document(data)
    except SbomError as exc:
        raise ValidationError(
            {"sbom": exc.message, **({"sbom_location": exc.where} if exc.where else {})}
        ) from exc
    locked = FirmwareRelease.objects.select_for_update().get(pk=release.pk)
    now = timezone.now()
    previous = list(
        SoftwareBill.objects.select_for_update().filter(release=locked, superseded_at=None)
    )
    for old in previous:
        old.superseded_at = now
        old.save(update_fields=["superseded_at", "updated_at"])
        Component.objects.filter(bill=old).update(current=False)
    created = parsed.created_at
    if created is not None and timezone.is_naive(created):
        created = created.replace(tzinfo=datetime.UTC)
    bill = SoftwareBill.objects.create(
        organization_id=locked.organization_id,
        release=locked,
        format=parsed.format,
        spec_version=parsed.spec_version,
        serial_number=parsed.serial_number,
        document_name=parsed.document_name,
        generator=parsed.generator,
        document_created_at=created,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        filename=upload_filename(document) if not isinstance(document, bytes | str) else "",
        document=data.decode("utf-8-sig"),
        component_count=len(parsed.components),
        uploaded_by=user_or_none(actor),
    )
    rows = Component.objects.bulk_create(
        [
            Component(
                organization_id=locked.organization_id,
                bill=bill,
                release=locked,
                **vars(c),
            )
            for c in parsed.components
        ],
        batch_size=1000,
    )
    by_ref = {row.bom_ref: row for row in rows}
    ComponentDependency.objects.bulk_create(
        [
            ComponentDependency(
                organization_id=locked.organization_id,
                bill=bill,
                source=by_ref[a],
                target=by_ref[b],
            )
            for a, b in parsed.edges
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    summary = {
        "release": locked.pk,
        "version": locked.version,
        "sbom": bill.pk,
        "format": bill.format,
        "spec_version": bill.spec_version,
        "sha256": bill.sha256,
        "components": len(rows),
        "dependencies": len(parsed.edges),
        "replaced": [old.pk for old in previous],
    }
    record_audit(
        "firmware.softwarebill.replace" if previous else "firmware.softwarebill.create",
        actor=actor,
        obj=bill,
        changes={"after": summary},
    )
    record_event("firmware.sbom_attached", organization=locked.organization, payload=summary)
    return bill


def current_bill(release):
    return (
        SoftwareBill.objects.filter(release=release, superseded_at=None)
        .select_related("release")
        .first()
    )


def match_components(queryset, *, purl=None, name=None, version=None):
    """Narrow current components to a purl (any version when it names none), name, version."""
    from ..sbom.parse import normalise_purl

    queryset = queryset.filter(current=True)
    if purl:
        try:
            text, parts = normalise_purl(purl, "purl")
        except SbomError as exc:
            raise ValidationError({"purl": exc.message}) from exc
        if parts.version:
            queryset = queryset.filter(purl=text)
        else:
            queryset = queryset.filter(
                purl_type=parts.type, purl_namespace=parts.namespace or "", purl_name=parts.name
            )
    if name:
        queryset = queryset.filter(name__iexact=name)
    if version:
        queryset = queryset.filter(version=version)
    return queryset


def releases_containing(user, **match):
    """Releases ``user`` may see whose current SBOM lists a matching component."""
    components = match_components(Component.objects.restrict(user, "view"), **match)
    return FirmwareRelease.objects.restrict(user, "view").filter(
        Exists(components.filter(release=OuterRef("pk")))
    )


def devices_running(user, releases):
    """Devices ``user`` may see that report running one of ``releases`` (type and version)."""
    running = releases.filter(
        organization=OuterRef("organization"),
        device_types=OuterRef("device_type"),
        version=OuterRef("firmware_version"),
    )
    return Device.objects.restrict(user, "view").filter(Exists(running))


def installed_release(device):
    """The release the device reports running (same organization, device type and version)."""
    return (
        FirmwareRelease.objects.filter(
            organization_id=device.organization_id,
            device_types=device.device_type_id,
            version=device.firmware_version,
        )
        .order_by("-created_at")
        .first()
        if device.firmware_version
        else None
    )
