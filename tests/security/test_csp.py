"""Content-Security-Policy (issue 15): the header on the web UI, the admin and the API browser,
and no template with inline script that the policy would block. The browser tests (tests/e2e)
fail on any violation a page reports."""

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
