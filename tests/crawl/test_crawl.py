"""Every page, as every role, crawled (issue 27).

The demo (``manage.py seed_demo``: Northwind and Helios, every app's data) is crawled from the
web UI's home and the admin index as each role of Northwind (the site-narrowed field technician
too), as an anonymous visitor and as a member of Helios. Each signs in through the real forms,
the second factor (TOTP) included. The crawl fails on any server error, any page showing the
other organization's names, slugs or uids, any 404 for a link a page offered, and any change form
that, submitted unchanged, is refused or changes its object; then it checks that the identities
together reached every URL pattern of the web UI and the admin (less ``EXEMPT``) and every admin
model. See docs/testing.md ("The crawl").
"""

import re
import time

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import models
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from encompass.tenancy.models import Membership, Organization
from encompass.testing.crawl import Crawl, PageParser, url_routes

from .conftest import DEMO, OTHER

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

PASSWORD = "crawl-the-whole-demo-1"
STARTS = ["/", "/admin/"]

# URL patterns no crawl needs to reach, each with its reason.
EXEMPT = {
    r"api/": "the REST and device APIs: fuzzed by schemathesis and held to the tenant contract "
    "(encompass.testing.api); the crawl follows an API link only where a page offers one",
    r"healthz$|readyz$": "load-balancer probes, linked from no page (tests/security/"
    "test_foundation_web.py)",
    r"admin/login/$": "redirects to the web sign-in, which the crawl uses (and reaches)",
    r"admin/logout/$|account/sign-out/$": "signing out ends the crawl; a POST-only form",
    r"admin/password_change/": "Django's own password change; the admin header hides it for "
    "members who sign in through the web UI",
    r"admin/\(\?P<url>": "the admin's catch-all: answers every unknown admin URL",
    r"admin/\w+/\w+/<path:object_id>/$": "Django's redirect from an object's bare admin URL to "
    "its change page; no page links to it",
    r"account/two-factor/$": "opened (enrolment, then the code) by the sign-in of each "
    "second-factor role before its crawl; the crawl itself never signs in again",
    r"admin/r/": "'view on site': no admin model has get_absolute_url",
    r"pki/": "the CA certificate and CRL distribution points devices and relying parties fetch "
    "(named in the certificates, not linked from pages): tests/identity",
    r"admin/.*/permissions/group-manage/": "the demo grants no role to a group (group grants: "
    "tests/security/test_foundation_web.py)",
    r"<slug:tenant>/controller/v1/": "hawkBit DDI, spoken by update agents with a device's "
    "token, never by a browser: tests/ddi (Debian's SWUpdate) and the attack matrix",
    r"\.well-known/est/": "EST enrollment for devices (RFC 7030): tests/identity/test_est.py",
    r"account/password-reset/(sent|done)/$|account/password-reset/<uidb64>/": "reached from the "
    "reset e-mail and after the reset form's POST, which the crawl does not submit: "
    "tests/security/test_password_reset.py",
    r"invitations/<int:pk>/$|admin/tenancy/membershipinvitation/<path:object_id>/": "the demo "
    "has no pending invitation: tests/security/test_membership_invitations.py",
    r"admin/firmware/gatewaytoken/<path:object_id>/": "the demo issues no DDI gateway token: "
    "tests/ddi/test_security.py",
    r"account/sso/callback/$|account/sso/<slug:slug>/$": "single sign-on: the demo configures no "
    "identity provider; signed in through a real one in tests/sso and tests/e2e/test_sso_oidc.py",
}


def sign_in(username):
    """A client signed in through the real sign-in form (CSRF enforced), with the TOTP
    enrolment and verification pages completed for the roles that need a second factor."""
    user = get_user_model().objects.get(username=username)
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    page = client.get("/account/sign-in/")
    token = _csrf(page)
    response = client.post(
        "/account/sign-in/",
        {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302, response.content[:500]
    if client.get("/overview/").status_code == 302:  # to the second-factor page
        page = client.get("/account/two-factor/")
        assert page.status_code == 200
        device = TOTPDevice.objects.get(user=user)
        code = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
        response = client.post(
            "/account/two-factor/", {"token": f"{code:06d}", "csrfmiddlewaretoken": _csrf(page)}
        )
        assert response.status_code == 302, response.content[:500]
    assert client.get("/overview/").status_code == 200
    return client


def _csrf(page):
    parser = PageParser()
    parser.feed(page.content.decode())
    for form in parser.forms:
        for name, value in form.fields:
            if name == "csrfmiddlewaretoken":
                return value
    raise AssertionError("no CSRF token on the page")


# --- what belongs to an organization -----------------------------------------------------------

MEANINGLESS = re.compile(r"^[\d\W_]+$")  # numbers, dates, versions: not names
PROSE = re.compile(r"^[a-z]+$")


def strings_of(org):
    """Names, slugs, uids, serials ... of every row of ``org`` (and of its members)."""
    found = set()
    for model in apps.get_models():
        if model is Organization:
            rows = Organization.objects.filter(pk=org.pk)
        elif getattr(model, "tenant_lookup", None):
            rows = model._default_manager.filter(**{model.tenant_lookup: org.pk})
        else:
            continue
        names = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.UUIDField)
            and not f.choices
            and not f.is_relation
        ]
        for values in rows.values_list(*names):
            found.update(str(v) for v in values if v)
    members = Membership.objects.filter(organization=org).values_list(
        "user__username", "user__email"
    )
    found.update(v for row in members for v in row)
    # A lone lower-case word ("environment", "riverside") may be any page's prose; the
    # organization's slug is kept, it is the tenant's name in every URL.
    kept = {s for s in found if len(s) >= 6 and not MEANINGLESS.match(s) and not PROSE.match(s)}
    return kept | {org.slug}


def catalogue_strings():
    """Strings of rows that belong to no organization (the shipped frameworks ...)."""
    found = set()
    for model in apps.get_models():
        if getattr(model, "tenant_lookup", None) or model._meta.app_label in {
            "auth",
            "contenttypes",
        }:
            continue
        if not model.__module__.startswith(
            ("encompass.", "devices", "incidents", "risk", "compliance")
        ):
            continue
        names = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField) and not f.choices and not f.is_relation
        ]
        if names:
            for values in model._default_manager.values_list(*names):
                found.update(str(v) for v in values if v)
    return found


# --- the crawl ---------------------------------------------------------------------------------

ADMIN_CHANGE = re.compile(r"^/admin/(\w+)/(\w+)/(\d+)/change/$")


def submit_unchanged(page_path, form):
    """Which POST forms the crawl submits with their own data: admin change forms with a Save
    button (compared field by field before and after) and the web UI's edit pages."""
    if form.method != "post" or (form.submit is None and not page_path.endswith("/edit/")):
        return None
    match = ADMIN_CHANGE.match(page_path)
    if match and form.submit and form.submit[0] == "_save":
        model = apps.get_model(match[1], match[2])
        pk = int(match[3])

        def snapshot():
            row = model._default_manager.filter(pk=pk).values().first()
            return {k: v for k, v in (row or {}).items() if k != "updated_at"}

        return snapshot
    if page_path.endswith("/edit/"):
        return lambda: None
    return None


def autocomplete_probes():
    """The admin's autocomplete endpoint for every relation whose target admin is searchable:
    no page links to it (no admin uses autocomplete widgets), yet any member can ask it."""
    probes = []
    for model, _model_admin in admin.site._registry.items():
        for f in model._meta.get_fields():
            if not (f.is_relation and f.concrete and (f.many_to_one or f.many_to_many)):
                continue
            remote = admin.site._registry.get(f.related_model)
            if remote is None or not remote.search_fields:
                continue
            meta = model._meta
            probes.append(
                f"/admin/autocomplete/?app_label={meta.app_label}&model_name={meta.model_name}"
                f"&field_name={f.name}&term="
            )
    return probes


def unpermitted_routes(usernames):
    """The add and delete pages of admin models none of ``usernames`` may add or delete (their
    role tables, or read-only admins): no link leads there, so none is required."""
    from django.test import RequestFactory

    users = list(get_user_model().objects.filter(username__in=usernames))
    routes = set()
    for model, model_admin in admin.site._registry.items():
        base = f"admin/{model._meta.app_label}/{model._meta.model_name}/"
        requests = []
        for user in users:
            request = RequestFactory().get("/admin/")
            request.user = user
            requests.append(request)
        if not any(model_admin.has_add_permission(r) for r in requests):
            routes.add(f"{base}add/")
        if not any(model_admin.has_delete_permission(r) for r in requests):
            routes.add(f"{base}<path:object_id>/delete/")
    return routes


def starts_for(user):
    """Where an identity's crawl starts: the web UI's home, the admin index, and for each admin
    model one object the identity may delete (the first object of a list is often one it may
    only view, so its delete page would never be linked), and the object-permission screen of a
    site that holds a grant (the demo's field technician's)."""
    from django.test import RequestFactory

    from encompass.tenancy.models import Site

    starts = list(STARTS)
    if user is None:
        return starts
    request = RequestFactory().get("/admin/")
    request.user = user
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_delete_permission(request):
            continue
        candidates = model_admin.get_queryset(request)
        manager = model._default_manager
        if hasattr(manager, "restrict"):
            candidates = candidates.filter(pk__in=manager.restrict(user, "delete").values("pk"))
        for obj in candidates[:20]:
            if model_admin.has_delete_permission(request, obj):
                meta = model._meta
                starts.append(f"/admin/{meta.app_label}/{meta.model_name}/{obj.pk}/change/")
                break
    granted = Site.objects.restrict(user, "view").filter(siteuserobjectpermission__isnull=False)
    starts += [
        f"/admin/tenancy/site/{pk}/permissions/" for pk in granted.values_list("pk", flat=True)[:1]
    ]
    return starts


def identities():
    """(label, username or None, the organization whose data must never show)."""
    roles = ["admin", "security-officer", "operator", "technician", "auditor", "field-tech"]
    return [
        *[(f"{DEMO} {r}", f"{DEMO}-{r}", OTHER) for r in roles],
        ("anonymous", None, None),
        (f"{OTHER} auditor (other organization)", f"{OTHER}-auditor", DEMO),
    ]


def crawl_demo():
    """Crawl the seeded demo as every identity; the crawls and what they missed."""
    orgs = {o.slug: o for o in Organization.objects.filter(slug__in=[DEMO, OTHER])}
    catalogue = catalogue_strings()
    own = {slug: strings_of(org) for slug, org in orgs.items()}
    probes = autocomplete_probes()
    crawls, shared = [], set()
    for label, username, hidden in identities():
        client = sign_in(username) if username else Client(raise_request_exception=False)
        if hidden is None:  # anonymous: nothing of any organization
            forbidden = (own[DEMO] | own[OTHER]) - catalogue
        else:
            visible = next(s for s in orgs if s != hidden)
            forbidden = own[hidden] - own[visible] - catalogue
        crawl = Crawl(
            label, client, forbidden=forbidden, submit_unchanged=submit_unchanged, shared=shared
        )
        started = time.monotonic()
        user = get_user_model().objects.get(username=username) if username else None
        crawls.append(crawl.crawl(starts_for(user), probes=probes))
        crawl.seconds = time.monotonic() - started
    reached = set().union(*(c.routes for c in crawls))
    not_permitted = unpermitted_routes([u for _label, u, _h in identities() if u])
    missing = [
        route
        for route in url_routes()
        if route not in reached
        and route not in not_permitted
        and not any(re.match(p, route) for p in EXEMPT)
    ]
    models_missing = [
        m._meta.label
        for m in admin.site._registry
        if f"admin/{m._meta.app_label}/{m._meta.model_name}/" not in reached
    ]
    return crawls, missing, models_missing


def test_crawl_every_page_as_every_role(demo, db, capsys):
    started = time.monotonic()
    crawls, missing, models_missing = crawl_demo()
    failures = [f"[{c.name}] {f}" for c in crawls for f in c.failures]
    with capsys.disabled():
        print(f"\ncrawl: {time.monotonic() - started:.0f} s")
        for crawl in crawls:
            print(f"  {crawl.summary()} in {crawl.seconds:.0f} s")
    assert not failures, "\n".join(failures)
    assert not missing, "URL patterns no identity reached:\n" + "\n".join(missing)
    assert not models_missing, f"admin models no identity reached: {models_missing}"
    # The crawl saw the demo as its people do: a broad page count per signed-in role.
    assert all(len(c.visited) >= 20 for c in crawls if c.name != "anonymous")
