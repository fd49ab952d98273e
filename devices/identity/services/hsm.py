"""Moving an existing software CA key onto the PKCS#11 token (audited, one CA at a time)."""

import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from django.db import transaction

from encompass.audit.services import record_audit
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_permitted

from .. import pki
from ..keystore import SOFTWARE_PREFIX, KeyStoreError, SoftwareKeyStore, get_key_store
from ..models import CertificateAuthority


def _prove(token_key, certificate):
    """The token key is the CA's key: same public key, and a signature the certificate verifies."""
    if pki.spki_sha256(token_key.public_key()) != pki.spki_sha256(certificate.public_key()):
        raise KeyStoreError("The key on the token is not the CA's key.")
    message = os.urandom(32)
    public = certificate.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(
            token_key.sign(message, ec.ECDSA(hashes.SHA256())), message, ec.ECDSA(hashes.SHA256())
        )
    else:
        public.verify(
            token_key.sign(message, padding.PKCS1v15(), hashes.SHA256()),
            message,
            padding.PKCS1v15(),
            hashes.SHA256(),
        )


@transaction.atomic
def move_ca_key_to_token(authority, *, actor):
    """Import ``authority``'s software key onto the token (sensitive, non-extractable), check it
    signs as the CA, point the CA at it and delete the software copy. Its OCSP responder keys
    move with it. Answers ``False`` when the key already is on the token."""
    ensure_permitted(actor, "change", authority)
    store = get_key_store()
    if not hasattr(store, "generate_private_key"):
        raise ValidationError(
            {"key_store": "Configure the PKCS#11 key store (ENCOMPASS_KEY_STORE=pkcs11) first."}
        )
    locked = CertificateAuthority.objects.select_for_update().get(pk=authority.pk)
    if not locked.key_reference.startswith(SOFTWARE_PREFIX):
        return False
    software = SoftwareKeyStore()
    old_reference = locked.key_reference
    key = software.load_private_key(old_reference, label=locked.key_label)
    reference = store.store_private_key(key, label=locked.key_label)
    try:
        _prove(store.load_private_key(reference, label=locked.key_label), locked.certificate())
    except Exception:
        store.destroy(reference)
        raise
    locked.key_reference = reference
    locked.save(update_fields=["key_reference", "updated_at"])
    moved_responders = 0
    for responder in locked.ocsp_responders.select_for_update():
        if responder.key_reference.startswith(SOFTWARE_PREFIX):
            rkey = software.load_private_key(responder.key_reference, label=responder.key_label)
            old = responder.key_reference
            responder.key_reference = store.store_private_key(rkey, label=responder.key_label)
            responder.save(update_fields=["key_reference"])
            transaction.on_commit(lambda old=old: software.destroy(old))
            moved_responders += 1
    record_audit(
        "identity.certificateauthority.move_key_to_token",
        actor=actor,
        obj=locked,
        changes={"key_store": ["software", "pkcs11"], "ocsp_responder_keys": moved_responders},
    )
    # The software copy goes only once the CA points at the token for good.
    transaction.on_commit(lambda: software.destroy(old_reference))
    return True
