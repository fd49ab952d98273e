"""A URL map with a page that fails and a link to nowhere, for tests/crawl/test_crawler.py."""

from django.http import HttpResponse
from django.urls import path


def home(request):
    return HttpResponse(
        '<a href="/boom/">boom</a> <a href="/nowhere/">gone</a>'
        '<form method="get" action="/boom/"><input name="q" value="x"></form>'
    )


def boom(request):
    raise RuntimeError("kaput")


urlpatterns = [path("", home), path("boom/", boom)]
