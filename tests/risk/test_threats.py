import io
import json

import pytest
from django.core.management import CommandError, call_command

from risk.models import Threat
from risk.services.threats import CATALOGUE_FILE


@pytest.mark.django_db
def test_catalogue_is_loaded_and_the_command_is_idempotent(tmp_path):
    shipped = json.loads(CATALOGUE_FILE.read_text())
    assert Threat.objects.filter(organization__isnull=True).count() == len(shipped["threats"])
    out = io.StringIO()
    call_command("load_threats", stdout=out)
    assert f"0 created, 0 updated, {len(shipped['threats'])} unchanged" in out.getvalue()

    newer = dict(shipped, version=shipped["version"] + 1)
    newer["threats"] = [dict(shipped["threats"][0], name="Renamed in v2"), *shipped["threats"][1:]]
    path = tmp_path / "threats.json"
    path.write_text(json.dumps(newer))
    call_command("load_threats", file=str(path), stdout=io.StringIO())
    code = shipped["threats"][0]["code"]
    assert Threat.objects.get(code=code, organization=None).name == "Renamed in v2"
    call_command("load_threats", stdout=io.StringIO())  # an older file does not undo it
    assert Threat.objects.get(code=code, organization=None).name == "Renamed in v2"

    path.write_text(
        json.dumps({"version": 3, "threats": [{"code": "x", "name": "X", "stride": "nope"}]})
    )
    with pytest.raises(CommandError, match="stride"):
        call_command("load_threats", file=str(path))
