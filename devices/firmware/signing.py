"""Ed25519 signing and verification: release statements and update manifests.

What a vendor signs (the *release statement*) is this exact byte string: compact JSON, keys
sorted, UTF-8, no trailing newline::

    {"format":"encompass-release-v1","models":["Acme/Sensor-1"],"security_version":7,
     "sha256":"<64 hex>","size":1048576,"version":"2.4.1"}

``models`` lists ``<manufacturer>/<model>`` (``/<hardware revision>`` when the type has one) of
every device type the release is for, sorted. Binding metadata to the image means a valid image
cannot be re-published under another version, security version or device type. docs/updates.md
shows how to sign with ``openssl pkeyutl -sign -rawin`` or a few lines of Python.
"""

import base64
import binascii
import hashlib
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

STATEMENT_FORMAT = "encompass-release-v1"
MANIFEST_FORMAT = "encompass-manifest-v1"


class KeyFormatError(ValueError):
    pass


def canonical_json(data) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def device_type_label(device_type) -> str:
    label = f"{device_type.manufacturer}/{device_type.model}"
    if device_type.hardware_revision:
        label += f"/{device_type.hardware_revision}"
    return label


def release_statement(*, device_types, version, security_version, sha256, size) -> bytes:
    """The canonical bytes a vendor signs for a release (see the module docstring)."""
    return canonical_json(
        {
            "format": STATEMENT_FORMAT,
            "models": sorted(device_type_label(t) for t in device_types),
            "security_version": int(security_version),
            "sha256": sha256.lower(),
            "size": int(size),
            "version": version,
        }
    )


# --- keys -----------------------------------------------------------------------------------------


def load_public_key(text: str) -> Ed25519PublicKey:
    """Parse an Ed25519 public key given as PEM or as 32 raw bytes in (url-safe) base64."""
    text = (text or "").strip()
    if not text:
        raise KeyFormatError("Give the Ed25519 public key (PEM or base64 of 32 raw bytes).")
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode())
        except ValueError as exc:
            raise KeyFormatError("Not a readable PEM public key.") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFormatError("Only Ed25519 keys are accepted.")
        return key
    raw = decode_b64(text, what="public key")
    if len(raw) != 32:
        raise KeyFormatError(f"An Ed25519 public key is 32 bytes; this one is {len(raw)}.")
    return Ed25519PublicKey.from_public_bytes(raw)


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def fingerprint(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(key)).hexdigest()


def raw_private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def private_from_raw(raw: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(raw))


def decode_b64(text: str, *, what="value") -> bytes:
    cleaned = "".join((text or "").split())
    try:
        if "-" in cleaned or "_" in cleaned:
            return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError(f"The {what} is not valid base64.") from exc


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def verify(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
