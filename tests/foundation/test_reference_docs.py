"""docs/reference/ is generated from the code (encompass.reference): it must be current, and the
hand-written pages must explain every environment variable and command the code has."""

import re
from pathlib import Path

from encompass import reference

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_reference_pages_are_current():
    stale = reference.stale_pages()
    assert not stale, (
        f"docs/reference is out of date: {', '.join(stale)}; run `manage.py reference_docs` "
        "and commit the result"
    )


def test_every_environment_variable_is_explained_in_settings_md():
    text = (DOCS / "settings.md").read_text()
    variables = reference.environment_variables()
    assert len(variables) > 20  # the scan found the settings module's variables
    missing = [v.name for v in variables if f"`{v.name}`" not in text]
    assert not missing, f"docs/settings.md does not explain: {', '.join(missing)}"


def test_every_command_is_explained_in_the_docs():
    text = "\n".join(
        path.read_text()
        for path in [DOCS.parent / "README.md", *DOCS.glob("*.md")]
        if path.parent.name != "reference"
    )
    commands = reference.our_commands()
    assert "reference_docs" in commands and "seed_demo" in commands
    missing = [c for c in commands if not re.search(rf"\b{re.escape(c)}\b", text)]
    assert not missing, f"no page of docs/ explains: {', '.join(missing)}"
