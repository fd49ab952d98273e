from .authority import CertificateAuthority
from .certificate import DeviceCertificate
from .enrollment import ENROLLMENT_TOKEN_PREFIX, EnrollmentToken
from .keys import WrappedKey
from .ocsp import OcspResponder
from .policy import IdentityPolicy

__all__ = [
    "ENROLLMENT_TOKEN_PREFIX",
    "CertificateAuthority",
    "DeviceCertificate",
    "EnrollmentToken",
    "IdentityPolicy",
    "OcspResponder",
    "WrappedKey",
]
