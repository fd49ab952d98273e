"""Move CA private keys from the software key store onto the PKCS#11 token.

    ENCOMPASS_KEY_STORE=pkcs11 ENCOMPASS_PKCS11_MODULE=... ENCOMPASS_PKCS11_TOKEN_LABEL=... \\
    ENCOMPASS_PKCS11_PIN=... manage.py move_ca_key_to_token --actor alice [--organization acme]

Each CA moves in its own transaction and is audited
(``identity.certificateauthority.move_key_to_token``); the software copy is deleted once the CA
points at the token. Safe to rerun: CAs already on the token are skipped.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from devices.identity.keystore import SOFTWARE_PREFIX, KeyStoreError
from devices.identity.models import CertificateAuthority
from devices.identity.services.hsm import move_ca_key_to_token
from encompass.exceptions import ValidationError


class Command(BaseCommand):
    help = "Move software CA keys onto the configured PKCS#11 token (audited)."

    def add_arguments(self, parser):
        parser.add_argument("--actor", required=True, help="username of a Security officer/Admin")
        parser.add_argument("--organization", help="only this organization's CAs (slug)")

    def handle(self, *args, actor, organization=None, **options):
        user = get_user_model().objects.filter(username=actor, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {actor!r}.")
        authorities = CertificateAuthority.objects.restrict(user).filter(
            key_reference__startswith=SOFTWARE_PREFIX
        )
        if organization:
            authorities = authorities.filter(organization__slug=organization)
        moved = failed = 0
        for authority in authorities.order_by("pk"):
            try:
                move_ca_key_to_token(authority, actor=user)
            except (ValidationError, PermissionDenied, KeyStoreError) as exc:
                text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                self.stderr.write(f"{authority} ({authority.organization}): {text}")
                failed += 1
                continue
            moved += 1
            self.stdout.write(f"Moved the key of {authority} ({authority.organization}).")
        self.stdout.write(f"{moved} CA key(s) moved to the token; {failed} failed.")
        if failed:
            raise CommandError("Some CA keys were not moved.")
