"""Writes of the identity app. Every other app calls these, never the models directly.

* authorities: ``create_certificate_authority``, ``import_certificate_authority``,
  ``activate_certificate_authority``, ``active_authority``
* compromise: ``declare_ca_compromised`` (the emergency path)
* tokens: ``create_enrollment_token``, ``revoke_enrollment_token``
* issuance: ``enroll``, ``renew``, ``issue_certificate``, ``generate_factory_bundle``,
  ``active_certificate_for``
* revocation: ``revoke_certificate``, ``revoke_device_certificates``,
  ``release_certificate_holds``, ``regenerate_crl``, ``revoke_superseded``
* policy and keys: ``policy_for``, ``ensure_policy``, ``signing_key``
"""

from .authorities import (
    activate_certificate_authority,
    active_authority,
    create_certificate_authority,
    import_certificate_authority,
)
from .common import crl_url, ensure_policy, policy_for, signing_key
from .compromise import declare_ca_compromised
from .issuance import (
    EnrollmentRefused,
    active_certificate_for,
    enroll,
    generate_factory_bundle,
    issue_certificate,
    renew,
)
from .revocation import (
    hold_device_certificates,
    regenerate_crl,
    release_certificate_holds,
    revoke_certificate,
    revoke_device_certificates,
    revoke_superseded,
)
from .tokens import create_enrollment_token, find_token, revoke_enrollment_token

__all__ = [
    "EnrollmentRefused",
    "activate_certificate_authority",
    "active_authority",
    "active_certificate_for",
    "create_certificate_authority",
    "create_enrollment_token",
    "crl_url",
    "declare_ca_compromised",
    "enroll",
    "ensure_policy",
    "find_token",
    "generate_factory_bundle",
    "hold_device_certificates",
    "import_certificate_authority",
    "issue_certificate",
    "policy_for",
    "regenerate_crl",
    "release_certificate_holds",
    "renew",
    "revoke_certificate",
    "revoke_device_certificates",
    "revoke_enrollment_token",
    "revoke_superseded",
    "signing_key",
]
