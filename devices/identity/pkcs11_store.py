"""CA keys on a PKCS#11 token (an HSM; SoftHSM2 in development), through python-pkcs11.

Selected with ``ENCOMPASS_KEY_STORE=pkcs11`` and ``ENCOMPASS_PKCS11_MODULE`` (the vendor's
PKCS#11 library), ``ENCOMPASS_PKCS11_TOKEN_LABEL`` and ``ENCOMPASS_PKCS11_PIN``.

Keys are generated on the token (``generate_private_key``) as sensitive, non-extractable private
keys; ``store_private_key`` imports an existing key with the same attributes (the migration of a
software CA key). ``load_private_key`` answers a ``TokenKey``: it has the public key, and signs
on the token (``C_Sign``); ``sign_builder`` signs what a ``cryptography`` builder produced
(certificate, CRL, OCSP response) by signing its TBS bytes on the token and assembling the DER.
"""

import contextlib
import datetime
import hashlib
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509 import ocsp
from django.conf import settings

from . import der
from .keystore import SOFTWARE_PREFIX, KeyStore, KeyStoreError, SoftwareKeyStore

PREFIX = "pkcs11:"
OID_ED25519 = "1.3.101.112"
_CURVES = {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}
_lock = threading.RLock()
_sessions = {}


def _pkcs11():
    try:
        import pkcs11
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise KeyStoreError("python-pkcs11 is not installed.") from exc
    return pkcs11


def _config():
    conf = settings.ENCOMPASS.get("PKCS11", {})
    module, label, pin = conf.get("MODULE"), conf.get("TOKEN_LABEL"), conf.get("PIN")
    if not module or not label or not pin:
        raise KeyStoreError(
            "The PKCS#11 key store needs ENCOMPASS_PKCS11_MODULE, ENCOMPASS_PKCS11_TOKEN_LABEL "
            "and ENCOMPASS_PKCS11_PIN."
        )
    return module, label, pin


def session():
    """The process's logged-in read/write session on the configured token (one, under a lock:
    a logout on one session would log out every session of the application)."""
    pkcs11 = _pkcs11()
    module, label, pin = _config()
    key = (module, label, pin)
    with _lock:
        current = _sessions.get(key)
        if current is not None:
            return current
        try:
            token = pkcs11.lib(module).get_token(token_label=label)
        except pkcs11.NoSuchToken as exc:
            raise KeyStoreError(f"PKCS#11 token {label!r} is not present in {module}.") from exc
        except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
            raise KeyStoreError(f"PKCS#11 module {module} cannot be used: {exc!r}.") from exc
        try:
            opened = token.open(rw=True, user_pin=pin)
        except pkcs11.PinIncorrect as exc:
            raise KeyStoreError(f"PKCS#11 token {label!r} refused the PIN.") from exc
        except pkcs11.PinLocked as exc:
            raise KeyStoreError(f"PKCS#11 token {label!r} is locked (PIN blocked).") from exc
        except pkcs11.PKCS11Error as exc:
            raise KeyStoreError(f"PKCS#11 token {label!r} cannot be opened: {exc!r}.") from exc
        _sessions[key] = opened
        return opened


def reset_sessions():
    """Forget open sessions (tests, and after the token was replaced)."""
    with _lock:
        for opened in _sessions.values():
            with contextlib.suppress(Exception):  # the token may be gone already
                opened.close()
        _sessions.clear()


def _public_key(pkcs11, public):
    from pkcs11.util.ec import encode_ec_public_key
    from pkcs11.util.rsa import encode_rsa_public_key

    if public.key_type == pkcs11.KeyType.EC_EDWARDS:
        point = public[pkcs11.Attribute.EC_POINT]
        _tag, start, end = der.read(point)
        return ed25519.Ed25519PublicKey.from_public_bytes(point[start:end])
    if public.key_type == pkcs11.KeyType.EC:
        return serialization.load_der_public_key(encode_ec_public_key(public))
    return serialization.load_der_public_key(_rsa_spki(encode_rsa_public_key(public)))


def _rsa_spki(pkcs1):
    return der.sequence(
        der.sequence(der.oid("1.2.840.113549.1.1.1"), b"\x05\x00"), der.tlv(0x03, b"\x00" + pkcs1)
    )


_EPHEMERAL = {}


def _ephemeral(kind):
    """A throw-away key of the same family, to have ``cryptography`` encode the TBS bytes and
    the signature algorithm; its signature is replaced by the token's."""
    if kind not in _EPHEMERAL:
        _EPHEMERAL[kind] = (
            ec.generate_private_key(ec.SECP256R1())
            if kind == "ec"
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
    return _EPHEMERAL[kind]


def _bit_string(signature):
    return der.tlv(0x03, b"\x00" + signature)


def _resign_signed(data, sign):
    """``SEQUENCE { tbs, algorithm, BIT STRING }`` (certificate, CRL, BasicOCSPResponse, ...)
    with the BIT STRING replaced by ``sign(tbs)``; anything after it is kept."""
    parts = der.children(data)
    tbs, algorithm, _signature, *rest = parts
    return der.sequence(tbs, algorithm, _bit_string(sign(tbs)), *rest)


_DUMMY = {}


def _dummy_certificate(kind):
    """A certificate for the throw-away key (``cryptography`` signs an OCSP answer only with the
    key of the responder certificate it names); replaced by the real one in the answer."""
    if kind not in _DUMMY:
        key = _ephemeral(kind)
        name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "draft")])
        now = datetime.datetime.now(datetime.UTC)
        _DUMMY[kind] = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
    return _DUMMY[kind]


def _key_hash(certificate):
    return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


def _resign_ocsp(data, sign, *, draft_certificate, certificate):
    """An OCSPResponse drafted with ``draft_certificate`` as responder, re-made for
    ``certificate`` (ResponderID byKey and the certs field) and signed by ``sign``."""
    status, wrapper = der.children(data)
    (response_bytes,) = der.children(wrapper)
    kind, octets = der.children(response_bytes)
    _tag, start, end = der.read(octets)
    tbs, algorithm, _signature, _certs = der.children(octets[start:end])
    old_id = der.tlv(0xA2, der.tlv(0x04, _key_hash(draft_certificate)))
    new_id = der.tlv(0xA2, der.tlv(0x04, _key_hash(certificate)))
    if tbs.count(old_id) != 1:
        raise KeyStoreError("Unexpected OCSP response layout.")
    items = der.children(tbs)
    tbs = der.sequence(*[new_id if item == old_id else item for item in items])
    certs = der.tlv(0xA0, der.sequence(certificate.public_bytes(serialization.Encoding.DER)))
    basic = der.sequence(tbs, algorithm, _bit_string(sign(tbs)), certs)
    inner = der.sequence(kind, der.tlv(0x04, basic))
    return der.sequence(status, der.tlv(0xA0, inner))


class TokenKey:
    """A private key on the token: its public half, and signing by ``C_Sign``."""

    def __init__(self, reference, label, public_key):
        self.reference = reference
        self.label = label
        self._public = public_key

    def public_key(self):
        return self._public

    @property
    def key_size(self):
        return self._public.key_size if hasattr(self._public, "key_size") else 0

    def _private(self, opened):
        pkcs11 = _pkcs11()
        try:
            return opened.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, label=self.label)
        except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned) as exc:
            raise KeyStoreError(f"Key {self.label} is not on the token.") from exc

    def sign(self, data, *args):
        """``cryptography``-style signing: Ed25519 ``sign(data)``; ECDSA ``sign(data,
        ec.ECDSA(hash))``; RSA ``sign(data, PKCS1v15(), hash)``."""
        if isinstance(self._public, ed25519.Ed25519PublicKey):
            pkcs11 = _pkcs11()
            with _lock:
                private = self._private(session())
                try:
                    return private.sign(data, mechanism=pkcs11.Mechanism.EDDSA)
                except pkcs11.PKCS11Error as exc:
                    reset_sessions()
                    raise KeyStoreError(f"The token could not sign with {self.label}.") from exc
        algorithm = args[-1].algorithm if hasattr(args[-1], "algorithm") else args[-1]
        return self.sign_digest_input(data, algorithm)

    def sign_digest_input(self, data, algorithm):
        """Sign ``data`` (hashing with ``algorithm``): ECDSA as DER, RSA as PKCS#1 v1.5."""
        pkcs11 = _pkcs11()
        with _lock:
            opened = session()
            private = self._private(opened)
            try:
                if isinstance(self._public, ec.EllipticCurvePublicKey):
                    digest = hashlib.new(algorithm.name, data).digest()
                    raw = private.sign(digest, mechanism=pkcs11.Mechanism.ECDSA)
                    half = len(raw) // 2
                    return encode_dss_signature(
                        int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
                    )
                mechanism = {
                    "sha256": pkcs11.Mechanism.SHA256_RSA_PKCS,
                    "sha384": pkcs11.Mechanism.SHA384_RSA_PKCS,
                }[algorithm.name]
                return private.sign(data, mechanism=mechanism)
            except pkcs11.PKCS11Error as exc:
                reset_sessions()
                raise KeyStoreError(
                    f"The token could not sign with {self.label}: {exc!r}."
                ) from exc

    def _kind(self):
        return "ec" if isinstance(self._public, ec.EllipticCurvePublicKey) else "rsa"

    def sign_ocsp(self, make_builder, certificate):
        """An OCSP answer from ``make_builder(responder_certificate)``, signed on the token."""
        from .pki import signature_hash

        algorithm = signature_hash(self._public)
        draft_certificate = _dummy_certificate(self._kind())
        draft = make_builder(draft_certificate).sign(_ephemeral(self._kind()), algorithm)
        data = _resign_ocsp(
            draft.public_bytes(serialization.Encoding.DER),
            lambda tbs: self.sign_digest_input(tbs, algorithm),
            draft_certificate=draft_certificate,
            certificate=certificate,
        )
        return ocsp.load_der_ocsp_response(data)

    def sign_builder(self, builder, algorithm):
        kind = "ec" if isinstance(self._public, ec.EllipticCurvePublicKey) else "rsa"
        draft = builder.sign(_ephemeral(kind), algorithm)
        data = draft.public_bytes(serialization.Encoding.DER)

        def sign(tbs):
            return self.sign_digest_input(tbs, algorithm)

        if isinstance(draft, x509.CertificateRevocationList):
            return x509.load_der_x509_crl(_resign_signed(data, sign))
        return x509.load_der_x509_certificate(_resign_signed(data, sign))


class Pkcs11KeyStore(KeyStore):
    """Keys on the configured PKCS#11 token; references are ``pkcs11:token=...;object=...``."""

    def _reference(self, label):
        _module, token_label, _pin = _config()
        return f"{PREFIX}token={token_label};object={label}"

    @staticmethod
    def _label(reference):
        if not reference or not reference.startswith(PREFIX):
            raise KeyStoreError(f"Not a PKCS#11 key reference: {reference!r}.")
        fields = dict(p.split("=", 1) for p in reference.removeprefix(PREFIX).split(";"))
        return fields["object"]

    @staticmethod
    def _private_template(pkcs11):
        attr = pkcs11.Attribute
        return {
            attr.SENSITIVE: True,
            attr.EXTRACTABLE: False,
            attr.TOKEN: True,
            attr.PRIVATE: True,
            attr.SIGN: True,
        }

    def generate_private_key(self, algorithm, *, label):
        """Generate a key pair on the token; answer its reference."""
        pkcs11 = _pkcs11()
        from pkcs11.util.ec import encode_named_curve_parameters

        with _lock:
            opened = session()
            try:
                if algorithm in ("ec-p256", "ec-p384"):
                    curve = "secp256r1" if algorithm == "ec-p256" else "secp384r1"
                    params = opened.create_domain_parameters(
                        pkcs11.KeyType.EC,
                        {pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters(curve)},
                        local=True,
                    )
                    params.generate_keypair(
                        store=True,
                        label=label,
                        private_template=self._private_template(pkcs11),
                    )
                elif algorithm.startswith("rsa-"):
                    opened.generate_keypair(
                        pkcs11.KeyType.RSA,
                        int(algorithm[4:]),
                        store=True,
                        label=label,
                        private_template=self._private_template(pkcs11),
                    )
                else:
                    raise KeyStoreError(f"The token cannot generate {algorithm!r} keys.")
            except pkcs11.PKCS11Error as exc:
                reset_sessions()
                raise KeyStoreError(f"The token could not generate {label}: {exc!r}.") from exc
        return self._reference(label)

    def store_private_key(self, key, *, label):
        """Import an existing key as sensitive and non-extractable (software CA key migration)."""
        pkcs11 = _pkcs11()
        attr = pkcs11.Attribute
        if isinstance(key, ed25519.Ed25519PrivateKey):  # firmware signing keys
            params = der.oid(OID_ED25519)
            raw_public = key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            private = {
                attr.KEY_TYPE: pkcs11.KeyType.EC_EDWARDS,
                attr.EC_PARAMS: params,
                attr.VALUE: key.private_bytes(
                    serialization.Encoding.Raw,
                    serialization.PrivateFormat.Raw,
                    serialization.NoEncryption(),
                ),
            }
            public = {
                attr.KEY_TYPE: pkcs11.KeyType.EC_EDWARDS,
                attr.EC_PARAMS: params,
                attr.EC_POINT: der.tlv(0x04, raw_public),
            }
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            from pkcs11.util.ec import encode_named_curve_parameters

            if key.curve.name not in _CURVES:
                raise KeyStoreError(
                    f"The token store keeps P-256/P-384 keys, not {key.curve.name}."
                )
            point = key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
            params = encode_named_curve_parameters(key.curve.name)
            size = (key.curve.key_size + 7) // 8
            private = {
                attr.KEY_TYPE: pkcs11.KeyType.EC,
                attr.EC_PARAMS: params,
                attr.VALUE: key.private_numbers().private_value.to_bytes(size, "big"),
            }
            public = {
                attr.KEY_TYPE: pkcs11.KeyType.EC,
                attr.EC_PARAMS: params,
                attr.EC_POINT: der.tlv(0x04, point),
            }
        elif isinstance(key, rsa.RSAPrivateKey):
            numbers = key.private_numbers()

            def raw(n):
                return n.to_bytes((n.bit_length() + 7) // 8, "big")

            private = {
                attr.KEY_TYPE: pkcs11.KeyType.RSA,
                attr.MODULUS: raw(numbers.public_numbers.n),
                attr.PUBLIC_EXPONENT: raw(numbers.public_numbers.e),
                attr.PRIVATE_EXPONENT: raw(numbers.d),
                attr.PRIME_1: raw(numbers.p),
                attr.PRIME_2: raw(numbers.q),
                attr.EXPONENT_1: raw(numbers.dmp1),
                attr.EXPONENT_2: raw(numbers.dmq1),
                attr.COEFFICIENT: raw(numbers.iqmp),
            }
            public = {
                attr.KEY_TYPE: pkcs11.KeyType.RSA,
                attr.MODULUS: private[attr.MODULUS],
                attr.PUBLIC_EXPONENT: private[attr.PUBLIC_EXPONENT],
            }
        else:
            raise KeyStoreError(f"The token store keeps EC and RSA keys, not {type(key).__name__}.")
        with _lock:
            opened = session()
            try:
                opened.create_object(
                    {
                        attr.CLASS: pkcs11.ObjectClass.PRIVATE_KEY,
                        attr.LABEL: label,
                        **self._private_template(pkcs11),
                        **private,
                    }
                )
                opened.create_object(
                    {
                        attr.CLASS: pkcs11.ObjectClass.PUBLIC_KEY,
                        attr.LABEL: label,
                        attr.TOKEN: True,
                        attr.VERIFY: True,
                        **public,
                    }
                )
            except pkcs11.PKCS11Error as exc:
                reset_sessions()
                raise KeyStoreError(f"The token could not import {label}: {exc!r}.") from exc
        return self._reference(label)

    def load_private_key(self, reference, *, label):
        if reference and reference.startswith(SOFTWARE_PREFIX):
            # Kept in software from before the token (manage.py move_ca_key_to_token moves CA
            # keys); still usable, so switching stores never strands a key.
            return SoftwareKeyStore().load_private_key(reference, label=label)
        pkcs11 = _pkcs11()
        if self._label(reference) != label:
            raise KeyStoreError("The key reference does not belong to this label.")
        with _lock:
            opened = session()
            try:
                public = opened.get_key(object_class=pkcs11.ObjectClass.PUBLIC_KEY, label=label)
            except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned) as exc:
                raise KeyStoreError(f"Key {label} is not on the token.") from exc
            return TokenKey(reference, label, _public_key(pkcs11, public))

    def sign(self, reference, data, *, label):
        key = self.load_private_key(reference, label=label)
        if not isinstance(key, TokenKey):
            return super().sign(reference, data, label=label)
        if isinstance(key.public_key(), ed25519.Ed25519PublicKey):
            return key.sign(data)
        return key.sign_digest_input(data, hashes.SHA256())

    def destroy(self, reference):
        if reference and reference.startswith(SOFTWARE_PREFIX):
            return SoftwareKeyStore().destroy(reference)
        pkcs11 = _pkcs11()
        label = self._label(reference)
        with _lock:
            opened = session()
            for cls in (pkcs11.ObjectClass.PRIVATE_KEY, pkcs11.ObjectClass.PUBLIC_KEY):
                for obj in opened.get_objects(
                    {pkcs11.Attribute.CLASS: cls, pkcs11.Attribute.LABEL: label}
                ):
                    obj.destroy()

    def check(self):
        """Raise ``KeyStoreError`` when the token cannot be used (start-up check, /readyz): the
        token is looked up afresh and the session must answer a search."""
        pkcs11 = _pkcs11()
        module, label, _pin = _config()
        with _lock:
            opened = session()
            try:
                pkcs11.lib(module).get_token(token_label=label)
                next(iter(opened.get_objects({pkcs11.Attribute.LABEL: "-"})), None)
            except pkcs11.NoSuchToken as exc:
                reset_sessions()
                raise KeyStoreError(f"PKCS#11 token {label!r} is not present in {module}.") from exc
            except pkcs11.PKCS11Error as exc:
                reset_sessions()
                raise KeyStoreError(f"PKCS#11 token {label!r} does not answer: {exc!r}.") from exc
