"""Browser-test infrastructure: the real ASGI app under daphne, a headless Chromium, sign-in.

* ``live_server_url`` -- a web process (``python -m encompass.server``: daphne, HTTP + websockets,
  the same ``encompass.asgi`` application production runs) serving the pytest-django test
  database. It is started once per
  session and torn down before the test database is dropped; each test that uses it runs with
  ``transactional_db`` so what the test writes is committed and visible to the server process
  (and is flushed after the test).
* ``browser`` (session) / ``page`` (per test) -- Playwright's sync API driving Debian's
  ``/usr/bin/chromium``; never a downloaded browser.
* ``sign_in(page, live_server_url, user, password)`` -- through the real sign-in form, completing
  the TOTP step when the user's role requires it.
* ``screenshot(page, name)`` -- saves ``tests/e2e/screenshots/<name>.png`` (git-ignored).

Mark browser tests ``@pytest.mark.e2e``.
"""

import os
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

from encompass.testing.servers import ServerDidNotStart, WebServer, database_url

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = os.environ.get("ENCOMPASS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def _daphne_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """One web process (``python -m encompass.server``) for the session, on the test database."""
    from django.db import connection

    with django_db_blocker.unblock():
        db = dict(connection.settings_dict)
    log_path = tmp_path_factory.mktemp("daphne") / "daphne.log"
    try:
        db_url = database_url(db)
    except ServerDidNotStart as exc:
        pytest.fail(str(exc))
    server = WebServer(
        db_url,
        log_path,
        env={
            "DJANGO_SETTINGS_MODULE": "encompass.settings",
            # Same secrets as the test process: API-key hashes and signed values must agree.
            "SECRET_KEY": settings.SECRET_KEY,
            "ENCOMPASS_KEY_ENCRYPTION_KEY": settings.KEY_ENCRYPTION_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
        },
    )
    server.env["ENCOMPASS_PUBLIC_BASE_URL"] = server.url
    try:
        server.start()
    except ServerDidNotStart as exc:
        pytest.fail(str(exc))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def live_server_url(transactional_db, _daphne_server):
    """Base URL (no trailing slash) of the real ASGI app serving this test's committed data."""
    return _daphne_server


@pytest.fixture(scope="session")
def browser(django_db_setup):
    """Headless Debian Chromium for the session (started after, closed before, the test DB).

    Playwright's sync API keeps an asyncio loop running on the main thread while it is alive, so
    Django's async-safety check would refuse the ORM calls the tests themselves make; it is
    lifted for the browser's lifetime only (tests/conftest.py runs browser tests last).
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (never download a browser)")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


# Every page of every browser test runs under the Content-Security-Policy: a violation (a
# `securitypolicyviolation` event, or Chromium's "Refused to ... Content Security Policy" console
# error) on any page the test opened fails the test.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline")
                + " at " + (e.sourceFile || document.location.href) + ":" + e.lineNumber);
});
"""


def _is_csp_report(text):
    return text.startswith("CSP violation:") or "Content Security Policy" in text


def watch_csp(context):
    """Record the CSP violations of every page in ``context``; returns the (growing) list."""
    found, watched = [], set()

    def watch(tab):
        if id(tab) in watched:
            return
        watched.add(id(tab))

        def on_console(message):
            if _is_csp_report(message.text):
                found.append(f"{tab.url}: {message.text}")

        tab.on("console", on_console)

    context.add_init_script(_CSP_LISTENER)
    context.on("page", watch)
    return found, watch


@pytest.fixture
def page(browser, live_server_url):
    """A fresh browser context (no cookies) per test; closed before the database is flushed.

    Fails the test when any page it opened reported a Content-Security-Policy violation.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server_url)
    context.set_default_timeout(15_000)
    violations, watch = watch_csp(context)
    tab = context.new_page()
    watch(tab)
    try:
        yield tab
    finally:
        context.close()
    if violations:
        pytest.fail(
            "Content-Security-Policy violations:\n" + "\n".join(dict.fromkeys(violations)),
            pytrace=False,
        )


def screenshot(page, name):
    """Save a full-page screenshot under tests/e2e/screenshots/ and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def totp_code(user):
    """The current code of ``user``'s confirmed TOTP device, creating and confirming one if needed.

    A code already accepted in this time step is refused by django-otp (replay protection), so a
    second sign-in within the same 30 s uses the next step's code (within the device tolerance).
    """
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="e2e authenticator", confirmed=True)
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if totp.t() <= device.last_t:
        totp.time += (device.last_t + 1 - totp.t()) * device.step
    return f"{totp.token():0{device.digits}d}"


def sign_in(page, live_server_url, user, password, *, next_path="/"):
    """Sign in through the real form (and the TOTP page when the role requires it)."""
    from encompass.tenancy.mfa import requires_second_factor

    needs_totp = requires_second_factor(user)
    code = totp_code(user) if needs_totp else None
    page.goto(f"{live_server_url}/account/sign-in/?next={quote(next_path)}")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("form:has(#id_username) button[type=submit]")
    if "/account/sign-in/" in page.url:
        raise AssertionError(f"sign-in of {user} failed: {page.inner_text('main')}")
    if "/account/two-factor/" in page.url:
        if not needs_totp:
            raise AssertionError(f"{user} was asked for a second factor it should not need")
        page.fill("#id_token", code)
        with page.expect_navigation():
            page.click("form:has(#id_token) button[type=submit]")
        if "/account/two-factor/" in page.url:
            raise AssertionError(f"TOTP step failed for {user}: {page.inner_text('main')}")
    elif needs_totp:
        raise AssertionError(f"{user} holds a privileged role but was not asked for TOTP")
    return page


def outside_browser_loop(func, *args, **kwargs):
    """Run ``func`` in a fresh thread and return its result.

    While the browser is alive the main thread has a running asyncio loop, so code that uses
    ``async_to_sync`` (for example the on-commit websocket push of ``record_event``) cannot run
    there. Call services whose events a page should receive live through this helper.
    """
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def call():
        try:
            return func(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()
