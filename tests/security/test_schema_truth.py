"""The OpenAPI schema says what the server does: for every operation, the documented request body
has exactly the fields the serializer reads, with the same required ones, and the error answers
are documented. (The schema used to document ``note`` for ``incidents/{id}/notes/`` where the
server reads ``text``: two ``NoteSerializer`` classes shared one component.)"""

import pytest
from drf_spectacular.generators import SchemaGenerator

from .surface import operations, serializer_instance


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _component(schema, ref):
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def _documented_body(schema, op):
    body = schema["paths"][op.path][op.method.lower()].get("requestBody")
    if not body:
        return None
    for media in ("application/json", "multipart/form-data"):
        spec = body["content"].get(media, {}).get("schema")
        if spec and "$ref" in spec:
            return _component(schema, spec["$ref"])
    return None


def test_documented_request_bodies_are_what_the_serializers_read(schema):
    drift = []
    checked = 0
    for op in operations():
        if op.method not in ("POST", "PUT", "PATCH"):
            continue
        serializer = serializer_instance(op.request_serializer, {"request": None})
        documented = _documented_body(schema, op)
        if serializer is None or documented is None or not hasattr(serializer, "fields"):
            continue
        checked += 1
        writable = {name for name, field in serializer.fields.items() if not field.read_only}
        properties = set(documented.get("properties", {}))
        if writable != properties:
            drift.append(f"{op.key}: documents {sorted(properties)}, reads {sorted(writable)}")
        if op.method != "PATCH":
            required = {
                name
                for name, field in serializer.fields.items()
                if field.required and not field.read_only
            }
            if set(documented.get("required", [])) != required:
                drift.append(
                    f"{op.key}: documents required {sorted(documented.get('required', []))}, "
                    f"requires {sorted(required)}"
                )
    assert checked > 100
    assert not drift, "\n".join(drift)


def test_incident_notes_and_risk_review_are_documented_as_read(schema):
    notes = _component(
        schema,
        schema["paths"]["/api/v1/incidents/{id}/notes/"]["post"]["requestBody"]["content"][
            "application/json"
        ]["schema"]["$ref"],
    )
    assert "text" in notes["properties"] and "note" not in notes["properties"]
    review = _component(
        schema,
        schema["paths"]["/api/v1/risk/risks/{id}/review/"]["post"]["requestBody"]["content"][
            "application/json"
        ]["schema"]["$ref"],
    )
    from risk.api.serializers import ReviewSerializer

    assert set(review["properties"]) == set(ReviewSerializer().fields)


def test_every_operation_documents_its_error_answers(schema):
    missing = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            codes = set(operation["responses"])
            wanted = {"400", "401", "403", "404", "429"}
            if method in ("post", "put", "patch"):
                wanted.add("413")
            if wanted - codes:
                missing.append(f"{method.upper()} {path}: {sorted(wanted - codes)}")
    assert not missing, "\n".join(missing[:40])
