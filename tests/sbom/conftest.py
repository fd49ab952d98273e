"""SBOM fixtures: documents made in this run by real generators over this project's own
virtualenv (cyclonedx-py, sbom4python), and a release to attach them to."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.firmware.conftest import _media, register_vendor, upload  # noqa: F401

BIN = Path(sys.executable).parent


def _run(args, out):
    subprocess.run(args, check=True, capture_output=True, timeout=180)
    return out.read_bytes()


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """Real SBOMs: CycloneDX 1.6 JSON of the whole venv, CycloneDX 1.4 XML of a requirements
    file, SPDX 2.3 JSON and tag-value of one installed package and its dependencies."""
    tmp = tmp_path_factory.mktemp("sboms")
    docs = {}
    docs["cdx_json"] = _run(
        [
            BIN / "cyclonedx-py",
            "environment",
            "--no-validate",
            "--of",
            "JSON",
            "--sv",
            "1.6",
            "-o",
            tmp / "env.cdx.json",
            sys.executable,
        ],
        tmp / "env.cdx.json",
    )
    requirements = tmp / "requirements.txt"
    requirements.write_text("Django==5.2.1\npackageurl-python==0.17.6\ncryptography==44.0.0\n")
    docs["cdx_xml"] = _run(
        [
            BIN / "cyclonedx-py",
            "requirements",
            "--no-validate",
            "--of",
            "XML",
            "--sv",
            "1.4",
            "-o",
            tmp / "req.cdx.xml",
            requirements,
        ],
        tmp / "req.cdx.xml",
    )
    for key, fmt, name in (("spdx_json", "json", "lib.spdx.json"), ("spdx_tag", "tag", "lib.spdx")):
        docs[key] = _run(
            [
                BIN / "sbom4python",
                "-m",
                "cyclonedx-python-lib",
                "--sbom",
                "spdx",
                "--format",
                fmt,
                "-o",
                tmp / name,
            ],
            tmp / name,
        )
    return docs


@pytest.fixture
def release(world, settings):
    from encompass.testing.factories import make_device_type

    vendor = register_vendor(world.a)
    dt = make_device_type(world.a.org, manufacturer="Acme", model="Gateway-1")
    release = upload(world.a, vendor, [dt], "3.1.0", 2)
    release.vendor = vendor
    release.dt = dt
    return release
