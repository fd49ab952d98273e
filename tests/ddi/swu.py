"""Build SWUpdate images (``.swu``) for the tests: a cpio archive (``newc``) whose first member
is ``sw-description``, then its CMS signature (``sw-description.sig``, as Debian's swupdate,
built with CMS signing, demands), then the payload files.

The signer is a throw-away self-signed certificate made here with ``cryptography``; the signature
is made by ``openssl cms`` (the tool SWUpdate's documentation names), so the test signs images
the way a device maker's build does.
"""

import datetime
import hashlib
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _pad4(n):
    return (4 - n % 4) % 4


def cpio_newc(members):
    """``members``: [(name, bytes)] -> the bytes of a cpio archive in the ``newc`` format."""
    out = bytearray()
    for ino, (name, data) in enumerate([*members, ("TRAILER!!!", b"")], start=1):
        encoded = name.encode() + b"\0"
        trailer = name == "TRAILER!!!"
        fields = [
            0 if trailer else ino,  # ino
            0 if trailer else 0o100644,  # mode: regular file
            0,  # uid
            0,  # gid
            1,  # nlink
            0,  # mtime
            len(data),
            0,  # devmajor
            0,  # devminor
            0,  # rdevmajor
            0,  # rdevminor
            len(encoded),
            0,  # check
        ]
        header = b"070701" + b"".join(b"%08X" % value for value in fields)
        out += header + encoded
        out += b"\0" * _pad4(len(header) + len(encoded))
        out += data
        out += b"\0" * _pad4(len(data))
    out += b"\0" * _pad4(len(out))
    return bytes(out)


class Signer:
    """A code-signing key and its self-signed certificate (the ``-k`` file of swupdate)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Encompass test image signer")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        self.key_path = self.folder / "signer.key.pem"
        self.cert_path = self.folder / "signer.cert.pem"
        self.key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def sign(self, content):
        source = self.folder / "sw-description.tosign"
        target = self.folder / "sw-description.sig"
        source.write_bytes(content)
        subprocess.run(
            [
                "openssl", "cms", "-sign", "-binary", "-nosmimecap", "-outform", "DER",
                "-in", str(source), "-out", str(target),
                "-signer", str(self.cert_path), "-inkey", str(self.key_path),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return target.read_bytes()


def build_swu(signer, *, version, payload, install_to, hardware="1.0", wrong_hash=False):
    """A signed ``.swu`` that writes ``payload`` to ``install_to`` (SWUpdate's ``files``
    section, the ``rawfile`` handler). ``wrong_hash`` declares a SHA-256 the payload does not
    have: SWUpdate must refuse to install it."""
    digest = hashlib.sha256(payload).hexdigest()
    if wrong_hash:
        digest = hashlib.sha256(payload + b"tampered").hexdigest()
    description = f"""software =
{{
	version = "{version}";
	description = "Encompass DDI test image {version}";
	hardware-compatibility: [ "{hardware}" ];
	files: (
		{{
			filename = "payload.bin";
			path = "{install_to}";
			sha256 = "{digest}";
		}}
	);
}}
""".encode()
    return cpio_newc(
        [
            ("sw-description", description),
            ("sw-description.sig", signer.sign(description)),
            ("payload.bin", payload),
        ]
    )
