"""Content-Security-Policy (issue 15): the header on the web UI, the admin and the API browser,
no 'unsafe-inline' anywhere in it, and no template, script or admin markup with inline script or
a style attribute that the policy would block. The browser tests (tests/e2e) fail on any
violation a page reports."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates"
HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
SCRIPT = re.compile(r"<script\b([^>]*)>", re.I)
STYLE = re.compile(r"<style\b([^>]*)>", re.I)
# A style attribute in markup (templates, HTML built in Python or in a script's strings), and a
# script setting one; element.style.<property> = ... from a script is allowed by the policy.
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I)
SET_STYLE_ATTRIBUTE = re.compile(r"""setAttribute\(\s*['"]style['"]""")
BASE = Path(settings.BASE_DIR)
APPS = ["compliance", "devices", "encompass", "incidents", "risk"]
# Rendered without a request and served with their own hashes (encompass/web/csp.py), or only
# ever downloaded as a file.
SELF_CONTAINED = {"incidents/report.html", "compliance/report_document.html"}


def policy(response):
    header = response["Content-Security-Policy"]
    return dict((part.split()[0], part.split()[1:]) for part in header.split(";") if part.strip())


@pytest.mark.parametrize(
    "path", ["/account/sign-in/", "/account/password-reset/", "/api/schema/swagger/"]
)
def test_pages_carry_a_policy_without_unsafe_script(client, path):
    response = client.get(path)
    assert response.status_code == 200
    directives = policy(response)
    assert directives["script-src"][0] == "'self'"
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert "'unsafe-inline'" not in directives["style-src"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]


def test_the_admin_style_block_carries_the_nonce(world):
    client = Client()
    client.force_login(world.a.user("operator"))
    response = client.get("/admin/")
    nonce = re.search(r"'nonce-([^']+)'", " ".join(policy(response)["style-src"])).group(1)
    assert f'<style nonce="{nonce}">' in response.content.decode()


def test_no_template_has_inline_handlers_or_unnonced_inline_script():
    problems = []
    for path in TEMPLATES.rglob("*.html"):
        name = path.relative_to(TEMPLATES).as_posix()
        text = path.read_text()
        if HANDLER.search(text):
            problems.append(f"{name}: inline event handler")
        for attrs in SCRIPT.findall(text):
            if "src=" not in attrs and "nonce=" not in attrs and "application/json" not in attrs:
                problems.append(f"{name}: inline <script> without the nonce")
        if name not in SELF_CONTAINED:
            for attrs in STYLE.findall(text):
                if "nonce=" not in attrs:
                    problems.append(f"{name}: <style> without the nonce")
    assert not problems, problems


def test_the_policy_has_no_unsafe_inline_anywhere(client):
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    assert "style-src-attr" not in directives  # attributes fall under style-src: refused
    for name, sources in directives.items():
        assert "'unsafe-inline'" not in sources, name
        assert "'unsafe-eval'" not in sources, name
    header = client.get("/account/sign-in/")["Content-Security-Policy"]
    assert "unsafe-" not in header
    assert "style-src-attr" not in header


def test_no_template_has_a_style_attribute():
    found = [
        path.relative_to(TEMPLATES).as_posix()
        for path in sorted(TEMPLATES.rglob("*.html"))
        if STYLE_ATTRIBUTE.search(path.read_text())
    ]
    assert not found, found


def test_no_script_or_python_module_writes_a_style_attribute():
    found = []
    for path in sorted((BASE / "static").rglob("*.js")):
        text = path.read_text()
        if STYLE_ATTRIBUTE.search(text) or SET_STYLE_ATTRIBUTE.search(text):
            found.append(path.relative_to(BASE).as_posix())
    for app in APPS:
        for path in sorted((BASE / app).rglob("*.py")):
            if STYLE_ATTRIBUTE.search(path.read_text()):
                found.append(path.relative_to(BASE).as_posix())
    assert not found, found


@pytest.mark.parametrize(
    "markup,blocked",
    [
        ('<span class="badge" style="color: red">', True),
        ("<li\n    style='--dot: #fff'>", True),
        ('<span class="level-badge" data-css-level="#c62828">', False),
        ('<rect fill="#c62828" width="40">', False),
        ('<style nonce="n">', False),
    ],
)
def test_the_style_attribute_check_itself(markup, blocked):
    assert bool(STYLE_ATTRIBUTE.search(markup)) is blocked
