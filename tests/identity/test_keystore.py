"""The software key store: round trip, tamper detection, KEK rotation."""

import base64
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command

from devices.identity.keystore import KeyStoreError, SoftwareKeyStore
from devices.identity.models import WrappedKey
from devices.identity.pki import generate_private_key, spki_sha256

pytestmark = pytest.mark.django_db


def kek():
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def test_round_trip_and_sign():
    store = SoftwareKeyStore(kek())
    key = generate_private_key("ec-p256")
    ref = store.store_private_key(key, label="ca:1")
    loaded = store.load_private_key(ref, label="ca:1")
    assert spki_sha256(loaded.public_key()) == spki_sha256(key.public_key())
    row = WrappedKey.objects.get()
    plain = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert plain not in bytes(row.ciphertext)
    assert row.label == "ca:1" and row.kek_id == store.current_id
    assert len(bytes(row.nonce)) == 12
    signature = store.sign(ref, b"hello", label="ca:1")
    key.public_key().verify(signature, b"hello", ec.ECDSA(hashes.SHA256()))


def test_wrong_kek_fails():
    ref = SoftwareKeyStore(kek()).store_private_key(generate_private_key("ec-p256"), label="x")
    row = WrappedKey.objects.get()
    other = SoftwareKeyStore(kek())
    with pytest.raises(KeyStoreError, match="not configured"):
        other.load_private_key(ref, label="x")
    # Even a KEK that claims the right id cannot decrypt.
    other.keys[row.kek_id] = os.urandom(32)
    with pytest.raises(KeyStoreError, match="wrong key-encryption key or tampered"):
        other.load_private_key(ref, label="x")


def test_tampered_ciphertext_or_moved_label_fails():
    store = SoftwareKeyStore(kek())
    ref = store.store_private_key(generate_private_key("ec-p256"), label="ca:a")
    row = WrappedKey.objects.get()
    data = bytearray(bytes(row.ciphertext))
    data[10] ^= 0x01
    WrappedKey.objects.filter(pk=row.pk).update(ciphertext=bytes(data))
    with pytest.raises(KeyStoreError, match="tampered"):
        store.load_private_key(ref, label="ca:a")
    ref2 = store.store_private_key(generate_private_key("ec-p256"), label="ca:b")
    WrappedKey.objects.filter(pk=ref2.split(":")[1]).update(label="ca:c")
    with pytest.raises(KeyStoreError, match="tampered"):
        store.load_private_key(ref2, label="ca:c")


def test_rotate_kek_rewraps_every_key(monkeypatch, settings):
    old, new = kek(), kek()
    settings.KEY_ENCRYPTION_KEY = old
    key = generate_private_key("ec-p384")
    ref = SoftwareKeyStore().store_private_key(key, label="ca:rot")
    settings.KEY_ENCRYPTION_KEY = new
    monkeypatch.setenv("ENCOMPASS_PREVIOUS_KEY_ENCRYPTION_KEYS", old)
    call_command("rotate_kek")
    monkeypatch.delenv("ENCOMPASS_PREVIOUS_KEY_ENCRYPTION_KEYS")
    store = SoftwareKeyStore()
    assert WrappedKey.objects.get().kek_id == store.current_id
    loaded = store.load_private_key(ref, label="ca:rot")
    assert spki_sha256(loaded.public_key()) == spki_sha256(key.public_key())
