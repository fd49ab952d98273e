"""The device API -- native and DDI -- is described in its own valid OpenAPI schema."""

import pytest
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db


def test_device_schema_lists_native_and_ddi_operations(client):
    response = client.get("/api/device/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    paths = schema["paths"]
    for path in (
        "/api/device/v1/events",
        "/api/device/v1/update",
        "/api/device/v1/update/status",
        "/api/device/v1/update/key",
        "/{tenant}/controller/v1/{controller_id}",
        "/{tenant}/controller/v1/{controller_id}/deploymentBase/{action_id}",
        "/{tenant}/controller/v1/{controller_id}/deploymentBase/{action_id}/feedback",
        "/{tenant}/controller/v1/{controller_id}/cancelAction/{action_id}/feedback",
        "/{tenant}/controller/v1/{controller_id}/configData",
    ):
        assert path in paths, sorted(paths)
    assert not any(p.startswith("/api/v1/") for p in paths)  # staff API stays apart
    feedback = paths["/{tenant}/controller/v1/{controller_id}/deploymentBase/{action_id}/feedback"]
    assert {"TargetToken": []} in feedback["post"]["security"]
    assert {"GatewayToken": []} in feedback["post"]["security"]
    assert {"DeviceToken": []} in paths["/api/device/v1/update/status"]["post"]["security"]
    components = schema["components"]["schemas"]
    execution = components["ExecutionEnum"]["enum"]
    assert set(execution) >= {"closed", "proceeding", "canceled", "downloaded", "rejected"}
    assert components["DDIHandlingEnum"]["enum"] == ["skip", "attempt", "forced"]
