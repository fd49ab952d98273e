"""Bulk factory provisioning: one password-protected PKCS#12 per device, written once.

    manage.py factory_bundles --actor alice --out /secure/line3 --password-file pw dev_a dev_b

The acting user must be an Admin of the devices' organization (the service checks, and audits each
issue). Files are created with mode 0600 and never overwritten; the platform keeps no key.
"""

import os
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from devices.identity.choices import GENERATABLE
from devices.identity.services import generate_factory_bundle
from devices.models import Device


class Command(BaseCommand):
    help = "Generate password-protected PKCS#12 bundles (key + certificate + CA chain) for devices."

    def add_arguments(self, parser):
        parser.add_argument("uids", nargs="+", help="device ids (dev_...)")
        parser.add_argument("--actor", required=True, help="username of an Admin")
        parser.add_argument("--out", required=True, help="directory for <uid>.p12 files")
        parser.add_argument(
            "--password-file", required=True, help="file holding the bundle password"
        )
        parser.add_argument("--key-algorithm", default="ec-p256", choices=list(GENERATABLE))

    def handle(self, *args, uids, actor, out, password_file, key_algorithm, **options):
        user = get_user_model().objects.filter(username=actor, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {actor!r}.")
        password = Path(password_file).read_text().strip()
        directory = Path(out)
        directory.mkdir(parents=True, exist_ok=True)
        devices = {d.uid: d for d in Device.objects.restrict(user).filter(uid__in=uids)}
        failed = 0
        for uid in uids:
            device = devices.get(uid)
            target = directory / f"{uid}.p12"
            if device is None:
                self.stderr.write(f"{uid}: no such device for {actor}")
                failed += 1
                continue
            if target.exists():
                self.stderr.write(f"{uid}: {target} exists; not overwritten")
                failed += 1
                continue
            try:
                certificate, bundle = generate_factory_bundle(
                    device, actor=user, password=password, key_algorithm=key_algorithm
                )
            except (ValidationError, PermissionDenied) as exc:
                text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                self.stderr.write(f"{uid}: {text}")
                failed += 1
                continue
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(bundle)
            self.stdout.write(f"{uid}: {target} (serial {certificate.serial_hex})")
        if failed:
            raise CommandError(f"{failed} device(s) not provisioned.")
