"""Firmware settings: ``settings.ENCOMPASS[...]`` first, then environment, then defaults."""

import os

from django.conf import settings

DEFAULTS = {
    # Largest firmware image accepted on upload, in bytes (default 512 MiB).
    "FIRMWARE_MAX_ARTIFACT_BYTES": 512 * 1024 * 1024,
    # How long a signed update manifest stays valid (freeze-attack protection).
    "FIRMWARE_MANIFEST_TTL_SECONDS": 3600,
    # hawkBit DDI: the polling interval told to clients (config.polling.sleep), in seconds.
    "DDI_POLL_SECONDS": 300,
    # Largest SBOM document accepted (default 10 MiB), and most components in one.
    "SBOM_MAX_BYTES": 10 * 1024 * 1024,
    "SBOM_MAX_COMPONENTS": 20000,
}


def get(name):
    configured = getattr(settings, "ENCOMPASS", {}) or {}
    if name in configured:
        return configured[name]
    env = os.environ.get(f"ENCOMPASS_{name}")
    if env is not None:
        return type(DEFAULTS[name])(env)
    return DEFAULTS[name]
