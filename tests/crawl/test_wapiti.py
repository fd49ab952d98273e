"""A web scanner we did not write, wapiti (``wapiti3`` from PyPI), against a real web process.

A web process (``encompass.testing.servers.WebServer``) serves two organizations with demo-like
rows (``tests/security/tenant_data.seed_tenant``: device types, devices, certificates, firmware,
rollouts, alerts, incidents, risks ...) on 127.0.0.1. For two roles of the first -- an Operator,
and an Admin (whose second factor is given on the real page) -- the test signs in through the real form over HTTP,
hands wapiti the session and CSRF cookies, and lets it crawl and attack the web UI and the admin
with only the modules that need no outside endpoint (``MODULES``), bounded in time
(``--max-scan-time``, ``--max-attack-time``) and on loopback only (the URL is 127.0.0.1; no
bug reports, no update checks, no Wappalyzer download). Its JSON report is read: every
vulnerability and anomaly (a 500 is an "Internal Server Error" anomaly) fails the run unless
``wapiti_accepted.json`` accepts it with a reason.

Not yet part of ``make test``: it runs with ``ENCOMPASS_WAPITI=1`` (docs/testing.md "The
scanner" says what is open).

wapiti lives in its own virtualenv (``.venv-tools``, ``make tools``; ``make test`` builds it):
it pins older asgiref/cryptography than ours. ``ENCOMPASS_WAPITI_SECONDS`` sets the scan time
per role (default 60; each of the modules then attacks for at most 5 s); ``ENCOMPASS_WAPITI_REPORTS=dir`` keeps the JSON reports.
"""

import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.db import connection
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from encompass.tenancy.roles import Role
from encompass.testing.servers import ROOT, WebServer, database_url
from tests.security.tenant_data import seed_tenant

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WAPITI = ROOT / ".venv-tools" / "bin" / "wapiti"
ACCEPTED = Path(__file__).with_name("wapiti_accepted.json")
PASSWORD = "scanner-password-long-enough-42"
# Attack modules that need no outside endpoint (no ssrf/xxe/log4shell callback server, no
# Wappalyzer or CMS database download, no brute force of the sign-in form).
MODULES = [
    "xss",
    "permanentxss",
    "sql",
    "exec",
    "file",
    "crlf",
    "redirect",
    "csrf",
    "methods",
    "http_headers",
    "cookieflags",
    "csp",
    "backup",
    "htaccess",
]
SECONDS = int(os.environ.get("ENCOMPASS_WAPITI_SECONDS", "60"))
ROLES = [Role.OPERATOR, Role.ADMIN]
# Never requested: they end the session the scan runs in.
EXCLUDED_PATHS = ["/account/sign-out/", "/admin/logout/"]


def _csrf(html):
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def sign_in_over_http(base, username, blocker):
    """Sign in through the real form (and the second-factor page) of the web process; answer
    its cookies (session, CSRF)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def post(path, fields, page):
        body = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": _csrf(page)}).encode()
        request = urllib.request.Request(f"{base}{path}", data=body, headers={"Referer": base})
        with opener.open(request, timeout=60) as answer:
            return answer.geturl(), answer.read().decode()

    page = opener.open(f"{base}/account/sign-in/", timeout=60).read().decode()
    url, page = post("/account/sign-in/", {"username": username, "password": PASSWORD}, page)
    if "/account/two-factor/" in url:
        with blocker.unblock():  # the device the web process just created and committed
            device = TOTPDevice.objects.get(user__username=username)
            code = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
            token = f"{code.token():0{device.digits}d}"
            connection.close()
        url, page = post("/account/two-factor/", {"token": token}, page)
    errors = re.findall(r"<(?:li|p) class=\"[^\"]*error[^\"]*\">([^<]+)", page)
    assert "/account/" not in urllib.parse.urlsplit(url).path, (url, errors, page[-3000:])
    cookies = {c.name: c.value for c in jar}
    assert "sessionid" in cookies, cookies
    return cookies


def accepted_rules():
    rules = json.loads(ACCEPTED.read_text())
    for rule in rules:
        assert rule.get("reason", "").strip(), f"an accepted finding needs a reason: {rule}"
    return rules


def is_accepted(finding, rules, verify):
    for rule in rules:
        if rule["category"] != finding["category"]:
            continue
        if not re.search(rule.get("path", ""), finding["path"]):
            continue
        if not re.search(rule.get("info", ""), finding["info"]):
            continue
        if rule.get("verify") and not verify[rule["verify"]](finding):
            continue
        return True
    return False


CSRF_REFUSAL = "CSRF verification failed"


def csrf_is_checked(base, cookies):
    """A check of wapiti's CSRF report by the test itself: the form it names, POSTed with the
    token the crawl saw (once, with one Content-Type) is not refused for CSRF; with a wrong
    token, and without one, it is (403)."""
    header = "; ".join(f"{k}={v}" for k, v in cookies.items())

    def post(path, fields):
        request = urllib.request.Request(
            f"{base}{path}",
            data=urllib.parse.urlencode(fields).encode(),
            headers={"Cookie": header, "Content-Type": "application/x-www-form-urlencoded"},
        )
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(request, timeout=60) as answer:
                return answer.status, answer.read().decode(errors="replace"), answer
        except urllib.error.HTTPError as refused:
            return refused.code, refused.read().decode(errors="replace"), refused

    def check(finding):
        found = re.search(r' -d "([^"]*)"', finding["curl"])
        fields = urllib.parse.parse_qsl(found.group(1), keep_blank_values=True) if found else []
        if not any(name == "csrfmiddlewaretoken" for name, _ in fields):
            return False
        real_status, real_body, real = post(finding["path"], fields)
        location = real.headers.get("Location", "") if real_status in (301, 302, 303) else ""
        if (real_status == 403 and CSRF_REFUSAL in real_body) or "/account/sign-in/" in location:
            return False  # refused for CSRF, or no longer signed in: not disproved
        wrong = [(n, "wapiti" if n == "csrfmiddlewaretoken" else v) for n, v in fields]
        without = [(n, v) for n, v in fields if n != "csrfmiddlewaretoken"]
        return all(
            status == 403 and CSRF_REFUSAL in body
            for status, body, _ in (post(finding["path"], wrong), post(finding["path"], without))
        )

    return check


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def findings_of(report):
    """Every vulnerability and anomaly of a wapiti JSON report, flattened."""
    out = []
    for section in ("vulnerabilities", "anomalies"):
        for category, items in (report.get(section) or {}).items():
            for item in items:
                out.append(
                    {
                        "category": category,
                        "path": item.get("path", ""),
                        "method": item.get("method", ""),
                        "parameter": item.get("parameter", ""),
                        "info": item.get("info", ""),
                        "curl": item.get("curl_command", ""),
                    }
                )
    return out


def scan(base, cookies, workdir, name):
    workdir.mkdir(parents=True, exist_ok=True)
    report = workdir / f"{name}.json"
    command = [
        str(WAPITI),
        "--url",
        f"{base}/",
        "--scope",
        "folder",
        "--module",
        ",".join(MODULES),
        "--cookie-value",
        "; ".join(f"{k}={v}" for k, v in cookies.items()),
        "--max-scan-time",
        str(SECONDS),
        "--max-attack-time",
        str(max(5, SECONDS // 12)),
        "--max-links-per-page",
        "60",
        "--timeout",
        "20",
        "--tasks",
        "4",
        "--no-bugreport",
        "--flush-session",
        "--store-session",
        str(workdir / "session"),
        "--store-config",
        str(workdir / "config"),
        "--format",
        "json",
        "--output",
        str(report),
        "--verbose",
        "0",
    ]
    for path in EXCLUDED_PATHS:
        command += ["--exclude", f"{base}{path}*"]
    environment = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    environment["HOME"] = str(workdir)  # wapiti keeps its databases under ~/.wapiti
    started = time.monotonic()
    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=SECONDS * 3 + 120,
        cwd=workdir,
        env=environment,
    )
    assert report.exists(), (
        f"wapiti wrote no report ({run.returncode}):\n{run.stdout[-4000:]}{run.stderr[-4000:]}"
    )
    return json.loads(report.read_text()), time.monotonic() - started


def test_wapiti_finds_nothing_unaccepted(world, django_db_blocker, tmp_path, capsys, settings):
    if not os.environ.get("ENCOMPASS_WAPITI"):
        pytest.skip("opt-in while a finding is open: ENCOMPASS_WAPITI=1 (docs/testing.md)")
    if not WAPITI.exists():
        pytest.fail(f"{WAPITI} is missing: run `make tools` (make test builds it)", pytrace=False)
    rules = accepted_rules()
    settings.MEDIA_ROOT = tmp_path / "media"
    seed_tenant(world.a)
    seed_tenant(world.b)
    # The web process checks passwords with the project's hashers (the folder's demo fixture
    # narrows this process's to a fast one the web process does not have).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    for role in ROLES:
        user = world.a.user(role)
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    db_url = database_url(connection.settings_dict)
    env = {
        "SECRET_KEY": settings.SECRET_KEY,
        "ENCOMPASS_KEY_ENCRYPTION_KEY": settings.KEY_ENCRYPTION_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "ENCOMPASS_EVENT_TAIL": "0",
        "DEBUG": "false",
        # wapiti's attack modules post the sign-in form with payloads, and earlier tests of the
        # session signed in wrongly from 127.0.0.1 on purpose: the address must not be locked
        # out of the sign-ins of this test (the lockout has its own tests).
        "ENCOMPASS_AUTH_FAILURE_RATE": "100000/min",
        "ENCOMPASS_SIGN_IN_FAILURE_LIMIT": "1000000",
    }
    reports = Path(os.environ.get("ENCOMPASS_WAPITI_REPORTS") or tmp_path / "wapiti")
    problems, lines = [], []
    with WebServer(db_url, tmp_path / "web.log", env=env) as web:
        for role in ROLES:
            username = world.a.user(role).username
            cookies = sign_in_over_http(web.url, username, django_db_blocker)
            report, seconds = scan(web.url, cookies, reports / role, role)
            found = findings_of(report)
            verify = {"csrf": csrf_is_checked(web.url, cookies)}
            unaccepted = [f for f in found if not is_accepted(f, rules, verify)]
            crawled = report.get("infos", {}).get("crawled_pages_nbr", 0)
            lines.append(
                f"  {role.label}: {crawled} pages crawled, {len(found)} findings "
                f"({len(found) - len(unaccepted)} accepted) in {seconds:.0f} s"
            )
            problems += [
                f"[{role}] {f['category']}: {f['method']} {f['path']} {f['parameter']}: "
                f"{f['info']}\n    {f['curl']}"
                for f in unaccepted
            ]
        log = web.output()
    with capsys.disabled():
        print("\nwapiti:\n" + "\n".join(lines))
    if os.environ.get("ENCOMPASS_WAPITI_REPORTS"):
        (reports / "web.log").write_text(log)
    # A server error wapiti did not report as one (an answer it did not compare, say).
    # Each traceback to its end (the exception line), shown by its last lines.
    starts = [m.start() for m in re.finditer(r"^Traceback", log, re.M)]
    ends = [m.start() for m in re.finditer(r"^(127\.0\.0\.1:|\d{4}-\d\d-\d\d )", log, re.M)]
    tracebacks = [
        log[start : next((e for e in ends if e > start), len(log))][-2500:] for start in starts
    ]
    assert not problems, "\n".join(problems) + "\n" + log[-6000:]
    assert not tracebacks, "\n...\n".join(tracebacks[:3])
    if not os.environ.get("ENCOMPASS_WAPITI_REPORTS"):
        shutil.rmtree(reports, ignore_errors=True)
