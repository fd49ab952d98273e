from .authority import CertificateAuthority
from .certificate import DeviceCertificate
from .enrollment import ENROLLMENT_TOKEN_PREFIX, EnrollmentToken
from .keys import WrappedKey
from .policy import IdentityPolicy

__all__ = [
    "ENROLLMENT_TOKEN_PREFIX",
    "CertificateAuthority",
    "DeviceCertificate",
    "EnrollmentToken",
    "IdentityPolicy",
    "WrappedKey",
]
