"""Risk register models, split by subject."""

from .assets import Asset
from .matrix import RiskMatrix
from .risks import Risk, RiskSequence
from .threats import Threat
from .treatments import Mitigation
from .vulnerabilities import AffectedProduct, Vulnerability

__all__ = [
    "AffectedProduct",
    "Asset",
    "Mitigation",
    "Risk",
    "RiskMatrix",
    "RiskSequence",
    "Threat",
    "Vulnerability",
]
