"""The crawler itself: it finds what it is there to find (a leak, a server error, a broken
link), so the crawl of the demo cannot pass by seeing nothing."""

import pytest
from django.test import Client

from encompass.tenancy.roles import Role
from encompass.testing.crawl import Crawl, Leaks, PageParser, shape_of
from encompass.testing.web import web

pytestmark = pytest.mark.django_db


def test_a_page_with_the_other_tenants_names_is_a_leak(world):
    client = web(world.b.user(Role.AUDITOR))
    crawl = Crawl("b auditor", client, forbidden={"Tenant B", "b-site-1"}, max_pages=5)
    crawl.crawl(["/admin/tenancy/site/"])
    leaks = [f for f in crawl.failures if f.kind == "leak"]
    assert leaks and "Tenant B" in leaks[0].detail


def test_a_server_error_and_a_broken_link_are_failures(settings, db):
    settings.ROOT_URLCONF = "tests.crawl.broken_urls"
    crawl = Crawl("anonymous", Client(raise_request_exception=False)).crawl(["/"])
    found = sorted((f.kind, f.url, f.detail) for f in crawl.failures)
    assert found == [
        ("broken link", "/nowhere/", "404 Not Found"),
        ("server error", "GET /boom/", "500 RuntimeError: kaput"),
        ("server error", "GET /boom/?q=x", "500 RuntimeError: kaput"),
    ]


def test_forms_and_links_are_read_as_a_browser_sends_them():
    parser = PageParser()
    parser.feed(
        '<a href="/devices/?state=deployed">x</a><div data-fragment-url="/incidents/3/"></div>'
        '<script type="application/json">{"url": "/monitoring/counts/"}</script>'
        '<form method="post" action="/risk/risks/4/edit/"><input name="title" value="A &amp; B">'
        '<select name="owner"><option value="1">a</option><option value="2" selected>b</option>'
        '</select><textarea name="notes">\nline</textarea><input type="checkbox" name="x">'
        '<button formaction="/firmware/rollouts/1/pause/">Pause</button>'
        '<input type="submit" name="_save" value="Save"></form>'
    )
    assert parser.links == ["/devices/?state=deployed", "/incidents/3/"]
    assert parser.script_urls == ["/monitoring/counts/"]
    (form,) = parser.forms
    assert form.fields == [("title", "A & B"), ("owner", "2"), ("notes", "line")]
    assert form.submit == ("_save", "Save")
    assert form.other_actions == ["/firmware/rollouts/1/pause/"]


def test_shapes_and_leak_matching():
    assert shape_of("/admin/devices/device/17/change/?o=2&_changelist_filters=a") == (
        "/admin/devices/device/<n>/change/?o"
    )
    leaks = Leaks({"helios", "Tower One", "HE-000123"})
    assert leaks.find("<td>HE-000123</td> in /pki/helios/ca.pem at Tower One") == [
        "HE-000123",
        "Tower One",
        "helios",
    ]
    assert leaks.find("heliosphere HE-0001234") == []
