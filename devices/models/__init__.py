from .decommissioning import DecommissioningChecklist
from .device import Device, DeviceType, Tag, generate_device_uid
from .lifecycle import LifecycleTransition

__all__ = [
    "DecommissioningChecklist",
    "Device",
    "DeviceType",
    "LifecycleTransition",
    "Tag",
    "generate_device_uid",
]
