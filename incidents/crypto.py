"""Webhook signing secrets at rest: AES-256-GCM under ``settings.KEY_ENCRYPTION_KEY``.

The secret must stay usable (we sign with it), so it is encrypted, not hashed. The organization
id is bound in as associated data: a ciphertext copied to another tenant's row does not decrypt.
"""

import base64
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

VERSION = b"\x01"


def _key():
    return base64.urlsafe_b64decode(settings.KEY_ENCRYPTION_KEY.encode())


def _aad(organization_id):
    return f"incidents.webhook:{organization_id}".encode()


def encrypt_secret(secret, organization_id):
    nonce = os.urandom(12)
    return VERSION + nonce + AESGCM(_key()).encrypt(nonce, secret.encode(), _aad(organization_id))


def decrypt_secret(blob, organization_id):
    blob = bytes(blob)
    if blob[:1] != VERSION:
        raise ValueError("unknown webhook secret format")
    nonce, ciphertext = blob[1:13], blob[13:]
    return AESGCM(_key()).decrypt(nonce, ciphertext, _aad(organization_id)).decode()
