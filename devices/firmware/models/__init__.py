from .ddi import GatewayToken
from .keys import ManifestSigningKey, SigningKey
from .releases import FirmwareRelease
from .rollouts import DeviceUpdate, Rollout, RolloutWave

__all__ = [
    "DeviceUpdate",
    "FirmwareRelease",
    "GatewayToken",
    "ManifestSigningKey",
    "Rollout",
    "RolloutWave",
    "SigningKey",
]
