"""Single sign-on secrets at rest (OIDC client secrets, refresh tokens): AES-256-GCM under the
key-encryption key, the same scheme as webhook signing secrets (``encompass/webhooks/crypto.py``).

``b"\\x02" + kek_id (16 ASCII hex digits) + nonce (12) + ciphertext``; the purpose, the row's
organization and the KEK id are bound in as associated data, so a ciphertext copied to another
organization's row, to another field, or relabelled with another key id does not decrypt.
``manage.py rotate_kek`` re-encrypts them under the current KEK (:func:`rewrap_sso_secrets`).
"""

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from devices.identity.keystore import SoftwareKeyStore

V2 = b"\x02"
KEY_ID_LENGTH = 16


class SecretUnavailable(Exception):
    """A stored secret cannot be decrypted (its KEK is not configured, or it was tampered with)."""


def _aad(purpose, organization_id, kek_id):
    return f"sso.{purpose}:{organization_id}:{kek_id}".encode()


def encrypt(secret, *, purpose, organization_id):
    store = SoftwareKeyStore()
    nonce = os.urandom(12)
    ciphertext = AESGCM(store.current).encrypt(
        nonce, secret.encode(), _aad(purpose, organization_id, store.current_id)
    )
    return V2 + store.current_id.encode() + nonce + ciphertext


def key_id_of(blob):
    blob = bytes(blob)
    return blob[1 : 1 + KEY_ID_LENGTH].decode("ascii", "replace") if blob[:1] == V2 else None


def decrypt(blob, *, purpose, organization_id):
    blob = bytes(blob or b"")
    if blob[:1] != V2:
        raise SecretUnavailable("Unknown secret format.")
    kek_id = key_id_of(blob)
    kek = SoftwareKeyStore().keys.get(kek_id)
    if kek is None:
        raise SecretUnavailable(
            f"The secret is encrypted under KEK {kek_id}, which is not configured (list it in "
            "ENCOMPASS_PREVIOUS_KEY_ENCRYPTION_KEYS and run rotate_kek)."
        )
    nonce, ciphertext = blob[1 + KEY_ID_LENGTH : 13 + KEY_ID_LENGTH], blob[13 + KEY_ID_LENGTH :]
    try:
        return (
            AESGCM(kek).decrypt(nonce, ciphertext, _aad(purpose, organization_id, kek_id)).decode()
        )
    except InvalidTag as exc:
        raise SecretUnavailable(
            f"The secret does not decrypt under KEK {kek_id} (tampered, or moved from another row)."
        ) from exc


def rewrap_sso_secrets(write=print):
    """Re-encrypt client secrets and refresh tokens under the current KEK; ``(done, failed)``."""
    from django.db import transaction

    from encompass.audit.services import record_audit

    from .models import IdentityProvider, SsoIdentity

    current = SoftwareKeyStore().current_id
    done = failed = 0
    targets = [
        (IdentityProvider, "client_secret_encrypted", "client_secret", lambda r: r.organization_id),
        (SsoIdentity, "refresh_token_encrypted", "refresh_token", lambda r: r.organization_id),
    ]
    for model, field, purpose, org_of in targets:
        for pk in model.objects.exclude(**{field: None}).values_list("pk", flat=True):
            with transaction.atomic():
                row = model.objects.select_for_update().get(pk=pk)
                blob = getattr(row, field)
                if not blob or key_id_of(blob) == current:
                    continue
                try:
                    plain = decrypt(blob, purpose=purpose, organization_id=org_of(row))
                except SecretUnavailable as exc:
                    failed += 1
                    write(f"{model._meta.verbose_name} {row.pk}: {exc}")
                    continue
                setattr(row, field, encrypt(plain, purpose=purpose, organization_id=org_of(row)))
                row.save(update_fields=[field])
                if model is IdentityProvider:
                    record_audit(
                        "sso.provider.rewrap",
                        actor="command:rotate_kek",
                        obj=row,
                        changes={"kek_id": [key_id_of(blob), current]},
                    )
                done += 1
    return done, failed
