"""Every write of the risk register, and the live fleet computations other apps call.

Other apps use:

* ``affected_devices(vulnerability)`` / ``vulnerabilities_affecting(device)`` (firmware,
  compliance);
* ``create_risk(*, actor, organization, title, likelihood, impact, ...)`` (incidents, from a
  post-incident review);
* ``level_for(matrix, likelihood, impact)`` is in ``risk.matrix``.
"""

from .assets import assets_for_device, create_asset, register_assets_from_inventory
from .matrices import (
    create_matrix,
    default_matrix,
    delete_matrix,
    set_default_matrix,
    update_matrix,
)
from .mitigations import (
    create_mitigation,
    delete_mitigation,
    set_mitigation_status,
    update_mitigation,
)
from .risks import (
    accept_risk,
    assess_residual,
    close_risk,
    create_risk,
    delete_risk,
    mark_reviewed,
    reopen_risk,
    revoke_acceptance,
    update_risk,
)
from .threats import load_threat_catalogue
from .vulnerabilities import (
    affected_devices,
    build_vulnerability,
    create_vulnerability,
    delete_vulnerability,
    exposure_counts,
    update_vulnerability,
    vulnerabilities_affecting,
)

__all__ = [
    "accept_risk",
    "affected_devices",
    "assess_residual",
    "assets_for_device",
    "build_vulnerability",
    "close_risk",
    "create_asset",
    "create_matrix",
    "create_mitigation",
    "create_risk",
    "create_vulnerability",
    "default_matrix",
    "delete_matrix",
    "delete_mitigation",
    "delete_risk",
    "delete_vulnerability",
    "exposure_counts",
    "load_threat_catalogue",
    "mark_reviewed",
    "register_assets_from_inventory",
    "reopen_risk",
    "revoke_acceptance",
    "set_default_matrix",
    "set_mitigation_status",
    "update_matrix",
    "update_mitigation",
    "update_risk",
    "update_vulnerability",
    "vulnerabilities_affecting",
]
