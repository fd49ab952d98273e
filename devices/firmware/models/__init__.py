from .ddi import GatewayToken
from .keys import ManifestSigningKey, SigningKey
from .releases import FirmwareRelease
from .rollouts import DeviceUpdate, Rollout, RolloutWave
from .sbom import Component, ComponentDependency, SbomFormat, SoftwareBill

__all__ = [
    "Component",
    "ComponentDependency",
    "DeviceUpdate",
    "FirmwareRelease",
    "GatewayToken",
    "ManifestSigningKey",
    "Rollout",
    "RolloutWave",
    "SbomFormat",
    "SigningKey",
    "SoftwareBill",
]
