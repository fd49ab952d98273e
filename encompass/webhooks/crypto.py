"""Webhook signing secrets at rest: AES-256-GCM under the key-encryption key, with its key id.

The secret must stay usable (we sign with it), so it is encrypted, not hashed. The organization
id and the KEK's id are bound in as associated data: a ciphertext copied to another tenant's row,
or relabelled with another key id, does not decrypt.

Format 2 (written now): ``b"\\x02" + kek_id (16 ASCII hex digits) + nonce (12) + ciphertext``.
The KEK id is the same as the CA key store's (first 16 hex digits of SHA-256 of the KEK); a blob
under a previous KEK decrypts while that KEK is listed in
``ENCOMPASS_PREVIOUS_KEY_ENCRYPTION_KEYS``, and ``manage.py rotate_kek`` re-encrypts every secret
under the current one (:func:`rewrap_webhook_secrets`). Format 1 (no key id; written before) is
read by trying the configured KEKs, and rewrapped into format 2 by the same command.
"""

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from devices.identity.keystore import SoftwareKeyStore

V1 = b"\x01"
V2 = b"\x02"
KEY_ID_LENGTH = 16


class SecretUnavailable(Exception):
    """A stored secret cannot be decrypted (its KEK is not configured, or it was tampered with)."""


def _ring():
    """The current KEK and the previous ones, by key id (the key store's configuration)."""
    store = SoftwareKeyStore()
    return store.current_id, store.current, store.keys


def _aad(organization_id, kek_id=None):
    # "incidents.": the app webhooks lived in when secrets were first written; kept so they decrypt.
    base = f"incidents.webhook:{organization_id}"
    return (base if kek_id is None else f"{base}:{kek_id}").encode()


def encrypt_secret(secret, organization_id):
    kek_id, kek, _ = _ring()
    nonce = os.urandom(12)
    ciphertext = AESGCM(kek).encrypt(nonce, secret.encode(), _aad(organization_id, kek_id))
    return V2 + kek_id.encode() + nonce + ciphertext


def key_id_of(blob):
    """The KEK id a blob is encrypted under (None for the format without one)."""
    blob = bytes(blob)
    if blob[:1] == V2:
        return blob[1 : 1 + KEY_ID_LENGTH].decode("ascii", "replace")
    return None


def decrypt_secret(blob, organization_id):
    """The secret; raises :class:`SecretUnavailable` naming why when it cannot be had."""
    blob = bytes(blob)
    _, _, keys = _ring()
    if blob[:1] == V2:
        kek_id = blob[1 : 1 + KEY_ID_LENGTH].decode("ascii", "replace")
        kek = keys.get(kek_id)
        if kek is None:
            raise SecretUnavailable(
                f"The signing secret is encrypted under KEK {kek_id}, which is not configured "
                "(list it in ENCOMPASS_PREVIOUS_KEY_ENCRYPTION_KEYS and run rotate_kek, or "
                "rotate the endpoint's secret)."
            )
        nonce, ciphertext = blob[1 + KEY_ID_LENGTH : 13 + KEY_ID_LENGTH], blob[13 + KEY_ID_LENGTH :]
        try:
            return AESGCM(kek).decrypt(nonce, ciphertext, _aad(organization_id, kek_id)).decode()
        except InvalidTag as exc:
            raise SecretUnavailable(
                f"The signing secret does not decrypt under KEK {kek_id} (tampered, or moved "
                "from another row)."
            ) from exc
    if blob[:1] == V1:
        nonce, ciphertext = blob[1:13], blob[13:]
        for kek in keys.values():
            try:
                return AESGCM(kek).decrypt(nonce, ciphertext, _aad(organization_id)).decode()
            except InvalidTag:
                continue
        raise SecretUnavailable(
            "The signing secret (stored without a key id) decrypts under none of the configured "
            "KEKs (list the old one in ENCOMPASS_PREVIOUS_KEY_ENCRYPTION_KEYS and run rotate_kek)."
        )
    raise SecretUnavailable("Unknown webhook secret format.")


def needs_rewrap(blob):
    return key_id_of(blob) != _ring()[0]


def rewrap_webhook_secrets(write=print):
    """Re-encrypt every endpoint's secret under the current KEK (``manage.py rotate_kek``);
    answers ``(rewrapped, failed)``. Each endpoint in its own transaction, so a run that stops
    half-way is simply run again."""
    from django.db import transaction

    from encompass.audit.services import record_audit

    from .models import WebhookEndpoint

    current = _ring()[0]
    rewrapped = failed = 0
    for pk in WebhookEndpoint.objects.values_list("pk", flat=True):
        with transaction.atomic():
            endpoint = WebhookEndpoint.objects.select_for_update().get(pk=pk)
            if not needs_rewrap(endpoint.secret_encrypted):
                continue
            old = key_id_of(endpoint.secret_encrypted)
            try:
                secret = decrypt_secret(endpoint.secret_encrypted, endpoint.organization_id)
            except SecretUnavailable as exc:
                failed += 1
                write(f"webhook endpoint {endpoint.pk} ({endpoint.name}): {exc}")
                continue
            endpoint.secret_encrypted = encrypt_secret(secret, endpoint.organization_id)
            endpoint.save(update_fields=["secret_encrypted"])
            record_audit(
                "webhooks.webhookendpoint.rewrap",
                actor="command:rotate_kek",
                obj=endpoint,
                changes={"kek_id": [old, current]},
            )
            rewrapped += 1
    return rewrapped, failed
