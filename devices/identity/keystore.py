"""Where CA private keys live: a small interface, and the software implementation behind it.

The rest of the app never holds a key's bytes: it asks the configured key store to keep a new key
(``store_private_key``, answering an opaque *reference*) and later to hand back something that can
sign (``load_private_key``) or to sign directly (``sign``).

``SoftwareKeyStore`` (the default) keeps each key in the ``identity.WrappedKey`` table as PKCS#8
DER encrypted with AES-256-GCM under the key-encryption key (``settings.KEY_ENCRYPTION_KEY``):
a fresh 96-bit nonce per key, and the key's label and the KEK's id bound in as associated data, so
a ciphertext moved to another row, or decrypted with another KEK, fails instead of yielding a key.
The KEK id (first 16 hex digits of SHA-256 of the KEK) is stored with each key; during a KEK
rotation the previous KEKs are listed in ``ENCOMPASS_PREVIOUS_KEY_ENCRYPTION_KEYS`` (comma
separated) and ``manage.py rotate_kek`` re-encrypts every key under the current one.

``pkcs11_store.Pkcs11KeyStore`` keeps keys on a PKCS#11 token instead (generated there,
non-extractable); it answers ``TokenKey`` objects that sign on the token. Select a store with
``ENCOMPASS_KEY_STORE`` (``software``, ``pkcs11`` or a dotted path); see docs/identity.md.
"""

import base64
import hashlib
import os
from abc import ABC, abstractmethod

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.utils.module_loading import import_string

DEFAULT_KEY_STORE = "devices.identity.keystore.SoftwareKeyStore"
SOFTWARE_PREFIX = "software:"


class KeyStoreError(Exception):
    """A key cannot be stored or recovered (wrong KEK, tampered ciphertext, unknown reference)."""


class KeyStore(ABC):
    """What the identity app needs from wherever CA keys are kept."""

    @abstractmethod
    def store_private_key(self, key, *, label):
        """Keep ``key`` (a ``cryptography`` private key); answer an opaque reference string."""

    @abstractmethod
    def load_private_key(self, reference, *, label):
        """An object that signs as a ``cryptography`` private key does."""

    def sign(self, reference, data, *, label):
        """Sign ``data`` with the referenced key (SHA-256; PKCS#1 v1.5 for RSA)."""
        key = self.load_private_key(reference, label=label)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hashes.SHA256()))
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        raise KeyStoreError(f"Unsupported key type {type(key).__name__}.")

    @abstractmethod
    def destroy(self, reference):
        """Forget a key (used when the CA that owns it could not be created)."""


# Other secrets at rest under the same KEK (webhook signing secrets, ...) register how to
# re-encrypt them here; ``manage.py rotate_kek`` runs every one. A hook takes a ``write``
# callable for messages and answers ``(rewrapped, failed)``.
_rewrap_hooks = {}


def register_rewrap(name, hook):
    _rewrap_hooks[name] = hook


def rewrap_hooks():
    return dict(_rewrap_hooks)


def key_id(kek):
    return hashlib.sha256(kek).hexdigest()[:16]


def _decode_kek(text):
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode())
    except ValueError as exc:
        raise KeyStoreError("A key-encryption key is not url-safe base64.") from exc
    if len(raw) != 32:
        raise KeyStoreError("A key-encryption key must be 32 bytes.")
    return raw


class SoftwareKeyStore(KeyStore):
    """Keys encrypted at rest with AES-256-GCM under the configured key-encryption key."""

    def __init__(self, kek=None, previous=None):
        current = kek if kek is not None else settings.KEY_ENCRYPTION_KEY
        self.current = current if isinstance(current, bytes) else _decode_kek(current)
        if previous is None:
            previous = [
                p
                for p in os.environ.get("ENCOMPASS_PREVIOUS_KEY_ENCRYPTION_KEYS", "").split(",")
                if p.strip()
            ]
        self.keys = {key_id(self.current): self.current}
        for item in previous:
            raw = item if isinstance(item, bytes) else _decode_kek(item)
            self.keys.setdefault(key_id(raw), raw)

    @property
    def current_id(self):
        return key_id(self.current)

    @staticmethod
    def _aad(label, kek_id):
        return f"encompass-keystore:v1:{label}:{kek_id}".encode()

    def _encrypt(self, der, label):
        nonce = os.urandom(12)
        ciphertext = AESGCM(self.current).encrypt(nonce, der, self._aad(label, self.current_id))
        return nonce, ciphertext

    def _decrypt(self, row, label):
        kek = self.keys.get(row.kek_id)
        if kek is None:
            raise KeyStoreError(
                f"Key {row.label} is encrypted under KEK {row.kek_id}, which is not configured."
            )
        if row.label != label:
            raise KeyStoreError("The key reference does not belong to this label.")
        try:
            return AESGCM(kek).decrypt(
                bytes(row.nonce), bytes(row.ciphertext), self._aad(label, row.kek_id)
            )
        except InvalidTag as exc:
            raise KeyStoreError(
                f"Key {label} does not decrypt: wrong key-encryption key or tampered ciphertext."
            ) from exc

    def _row(self, reference):
        from .models import WrappedKey

        if not reference or not reference.startswith(SOFTWARE_PREFIX):
            raise KeyStoreError(f"Not a software key reference: {reference!r}.")
        row = WrappedKey.objects.filter(pk=reference.removeprefix(SOFTWARE_PREFIX)).first()
        if row is None:
            raise KeyStoreError(f"No stored key for reference {reference!r}.")
        return row

    def store_private_key(self, key, *, label):
        from .models import WrappedKey

        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        nonce, ciphertext = self._encrypt(der, label)
        row = WrappedKey.objects.create(
            label=label, kek_id=self.current_id, nonce=nonce, ciphertext=ciphertext
        )
        return f"{SOFTWARE_PREFIX}{row.pk}"

    def load_private_key(self, reference, *, label):
        der = self._decrypt(self._row(reference), label)
        return serialization.load_der_private_key(der, password=None)

    def destroy(self, reference):
        self._row(reference).delete()

    def rewrap(self, row):
        """Re-encrypt one stored key under the current KEK (KEK rotation); True when changed."""
        if row.kek_id == self.current_id:
            return False
        der = self._decrypt(row, row.label)
        row.nonce, row.ciphertext = self._encrypt(der, row.label)
        row.kek_id = self.current_id
        row.save(update_fields=["nonce", "ciphertext", "kek_id", "rewrapped_at"])
        return True


KEY_STORES = {
    "software": DEFAULT_KEY_STORE,
    "pkcs11": "devices.identity.pkcs11_store.Pkcs11KeyStore",
}


def get_key_store():
    path = settings.ENCOMPASS.get("KEY_STORE") or "software"
    return import_string(KEY_STORES.get(path, path))()
