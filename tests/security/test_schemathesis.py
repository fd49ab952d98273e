"""Schemathesis (a fuzzer we did not write) against the live schema of a real web process.

A daphne process (``encompass.testing.servers.WebServer``) serves the test database with both
tenants' rows; schemathesis loads ``/api/schema/`` from it, authenticates with an Admin's API
key, and runs its examples, fuzzing and stateful phases over every ``/api/v1/`` operation with
every check (``--checks all``). The run must find no server error (ST101); what the other checks
report is printed with its counts (docs/security.md "Schema fuzzing"). The failed-authentication throttle is relaxed for the run
(schemathesis sends bad keys on purpose).

Bounded for CI (``ENCOMPASS_FUZZ_EXAMPLES`` examples per operation, default 3); run it bigger
locally, e.g. ``ENCOMPASS_FUZZ_EXAMPLES=50 ENCOMPASS_FUZZ_PHASES=examples,coverage,fuzzing,stateful``.
The case counts are printed.
"""

import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from encompass.tenancy.roles import Role
from encompass.tenancy.services import create_api_key
from encompass.testing.servers import WebServer, database_url

from .tenant_data import seed_tenant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EXAMPLES = int(os.environ.get("ENCOMPASS_FUZZ_EXAMPLES", "3"))
PHASES = os.environ.get("ENCOMPASS_FUZZ_PHASES", "examples,fuzzing,stateful")
WORKERS = os.environ.get("ENCOMPASS_FUZZ_WORKERS", "2")
# Findings that fail the run: server errors. The other checks' findings (ST108 responses that
# break their documented schema, ST109 non-JSON bodies among them) are printed: open work, see
# docs/security.md "Schema fuzzing".
FATAL = {"ST101"}
# Checks left out, each with its reason (docs/security.md "Schema fuzzing").
EXCLUDED_CHECKS = {}


def test_schemathesis_finds_nothing(world, tmp_path, capsys, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    seed_tenant(world.a)
    seed_tenant(world.b)
    _key, plaintext = create_api_key(
        organization=world.a.org, name="fuzz", role=Role.ADMIN, actor=world.a.user(Role.ADMIN)
    )
    env = {
        "SECRET_KEY": settings.SECRET_KEY,
        "ENCOMPASS_KEY_ENCRYPTION_KEY": settings.KEY_ENCRYPTION_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "ENCOMPASS_AUTH_FAILURE_RATE": "100000/min",
        "ENCOMPASS_DEVICE_RATE": "100000/min",
        "ENCOMPASS_EVENT_TAIL": "0",
    }
    st = Path(sys.executable).with_name("st")
    with WebServer(database_url(connection.settings_dict), tmp_path / "web.log", env=env) as web:
        # The live schema, fetched once from the server (generating it can outlast
        # schemathesis's own 10-second schema timeout on a busy CI machine).
        request = urllib.request.Request(
            f"{web.url}/api/schema/?format=json",
            headers={"Authorization": f"Bearer {plaintext}"},
        )
        with urllib.request.urlopen(request, timeout=300) as answer:
            (tmp_path / "schema.json").write_bytes(answer.read())
        command = [
            str(st),
            "run",
            str(tmp_path / "schema.json"),
            "--url",
            web.url,
            "--header",
            f"Authorization: Bearer {plaintext}",
            "--checks",
            "all",
            "--phases",
            PHASES,
            "--max-examples",
            str(EXAMPLES),
            "--workers",
            WORKERS,
            "--include-path-regex",
            "^/api/v1/",
            "--request-timeout",
            "30",
            "--no-color",
            "--seed",
            os.environ.get("ENCOMPASS_FUZZ_SEED", "303645"),
        ]
        for check in EXCLUDED_CHECKS:
            command += ["--exclude-checks", check]
        run = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    out = run.stdout + run.stderr
    summary = out[out.rfind("SUMMARY") :] if "SUMMARY" in out else out[-3000:]
    cases = re.search(r"(\d+) generated", summary)
    findings = dict(re.findall(r"(ST\d{3}) [^:\n]+: (\d+)", summary))
    with capsys.disabled():
        print(f"\nschemathesis: {cases.group(0) if cases else '?'} cases, findings {findings}")
    assert cases and int(cases.group(1)) > 0, out[-6000:]
    assert "Loaded specification" in out, out[-6000:]
    fatal = {code: n for code, n in findings.items() if code in FATAL}
    assert not fatal, f"{fatal}\n{out[-20000:]}"
