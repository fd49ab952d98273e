"""A crawler of the web UI and the admin, in process (Django's test client), for one signed-in
identity at a time.

It starts from given pages (the web UI's home and the admin index), follows every link a page
offers (anchors, redirects, ``data-*-url`` attributes and URLs in ``json_script`` blocks the
page's scripts fetch), submits every GET form with its own initial values, asks for the action of
every POST form with a GET (a GET must never change anything nor fail), and submits each change
form with its own initial data once (``submit_unchanged``). It never submits any other POST
form -- no delete confirmation, no action button.

Pages are deduplicated by shape: digits in the path become ``<n>``, so one object per model and
admin page shape is opened per identity (``objects_per_page`` for the web UI's); a query string
counts by its keys only, once across every identity crawled with the same ``shared`` set (see
``Crawl._new``). Each request runs in a savepoint, rolled back after a POST or a server error, so
what one page does never changes what the next sees.

What it reports (``Crawl.failures``): any 5xx; any 404 for a link a page offered; any page that
contains one of ``forbidden`` strings (another organization's names, slugs and uids); a change
form that, submitted unchanged, is refused or changes its object.
"""

import html
import json
import os
import re
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

from django.db import transaction
from django.urls import Resolver404, resolve

TRACE = bool(os.environ.get("ENCOMPASS_CRAWL_TRACE"))  # print every request and its time
SKIP_PREFIXES = ("/static/", "/media/", "/ws/")
# Keys of a query string that carry where to come back to, not what the page shows.
IGNORED_QUERY_KEYS = frozenset({"_changelist_filters", "next"})
DIGITS = re.compile(r"(?<=/)\d+(?=/|$|\.)")
WORD = re.compile(r"[\w@.+:-]+")


@dataclass
class Form:
    method: str
    action: str
    fields: list = field(default_factory=list)  # [(name, value)] as the browser would send
    submit: tuple | None = None  # the first named submit button
    other_actions: list = field(default_factory=list)  # buttons' formaction URLs


class PageParser(HTMLParser):
    """Links, forms and script-fetched URLs of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links = []
        self.script_urls = []  # URLs a script builds on (json_script): fetched, never "broken"
        self.forms = []
        self._form = None
        self._select = None  # (name, [values], selected values, multiple)
        self._textarea = None
        self._json = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name, value in attrs:
            if value and name.startswith("data-") and name.endswith("-url"):
                self.links.append(value)
        if tag in ("a", "area") and a.get("href"):
            self.links.append(a["href"])
        elif tag in ("iframe", "script") and a.get("src"):
            self.links.append(a["src"])
        elif tag == "script" and a.get("type") == "application/json":
            self._json = []
        elif tag == "form":
            self._form = Form(
                method=(a.get("method") or "get").lower(), action=a.get("action") or ""
            )
            self.forms.append(self._form)
        elif self._form is not None:
            if tag in ("button", "input") and a.get("formaction"):
                self._form.other_actions.append(a["formaction"])
            self._field(tag, a)

    def _field(self, tag, a):
        name = a.get("name")
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            if not name or kind in ("file", "image", "reset", "button"):
                return
            if kind == "submit":
                self._form.submit = self._form.submit or (name, a.get("value") or "")
            elif kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._form.fields.append((name, a.get("value") or "on"))
            else:
                self._form.fields.append((name, a.get("value") or ""))
        elif tag == "button" and name and (a.get("type") or "submit") == "submit":
            self._form.submit = self._form.submit or (name, a.get("value") or "")
        elif tag == "select" and name:
            self._select = (name, [], [], "multiple" in a)
        elif tag == "option" and self._select is not None:
            value = a.get("value")
            self._select[1].append(value)
            if "selected" in a:
                self._select[2].append(value)
        elif tag == "textarea" and name:
            self._textarea = (name, [])

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1].append(data)
        if self._json is not None:
            self._json.append(data)

    def handle_endtag(self, tag):
        if tag == "select" and self._select is not None:
            name, options, selected, multiple = self._select
            if self._form is not None:
                if not selected and not multiple and options:
                    selected = options[:1]  # a browser sends the first option
                self._form.fields.extend((name, v or "") for v in selected if v is not None)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            name, text = self._textarea
            if self._form is not None:
                # The HTML parser drops the one newline that follows <textarea>; so do browsers.
                self._form.fields.append((name, "".join(text).removeprefix("\n")))
            self._textarea = None
        elif tag == "script" and self._json is not None:
            self.script_urls.extend(_urls_in_json("".join(self._json)))
            self._json = None
        elif tag == "form":
            self._form = None


def _urls_in_json(text):
    try:
        data = json.loads(text)
    except ValueError:
        return []
    found = []

    def walk(value):
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
            found.append(value)

    walk(data)
    return found


def shape_of(url):
    """``/admin/devices/device/17/change/?o=2`` -> ``/admin/devices/device/<n>/change/?o``."""
    parts = urlsplit(url)
    keys = sorted(
        {k for k, _v in parse_qsl(parts.query, keep_blank_values=True)} - IGNORED_QUERY_KEYS
    )
    path = DIGITS.sub("<n>", parts.path)
    return f"{path}?{'&'.join(keys)}" if keys else path


def route_of(path):
    """The URL pattern ``path`` resolves to (``devices/<int:pk>/``), or ``None``."""
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match.route


class Leaks:
    """Finds any of ``strings`` in a page: single words through a set, the rest by substring."""

    def __init__(self, strings):
        strings = {s for s in strings if s}
        self.words = {s for s in strings if WORD.fullmatch(s)}
        self.phrases = strings - self.words

    def __len__(self):
        return len(self.words) + len(self.phrases)

    def find(self, text):
        found = self.words.intersection(WORD.findall(text))
        found.update(p for p in self.phrases if p in text)
        return sorted(found)


@dataclass
class Failure:
    kind: str  # "server error", "broken link", "leak", "unchanged form"
    url: str
    detail: str
    source: str | None = None

    def __str__(self):
        where = f" (offered by {self.source})" if self.source else ""
        return f"{self.kind}: {self.url}{where}: {self.detail}"


class Crawl:
    """Crawl as one identity. ``client`` is a signed-in ``django.test.Client``."""

    def __init__(
        self,
        name,
        client,
        *,
        forbidden=(),
        submit_unchanged=None,
        shared=None,
        objects_per_page=3,
        max_pages=2000,
    ):
        self.objects_per_page = objects_per_page
        self.name = name
        self.shared = shared if shared is not None else set()
        self.client = client
        self.leaks = Leaks(forbidden)
        self.submit_unchanged = submit_unchanged or (lambda page_path, form: None)
        self.max_pages = max_pages
        self.seen = set()
        self.opened = set()  # paths opened
        self.opened_per_shape = Counter()
        self.statuses = Counter()
        self.routes = set()  # URL patterns answered (any status below 500)
        self.visited = []  # (method, url, status, the page that offered it)
        self.failures = []

    # --- requests --------------------------------------------------------------------------------

    def request(self, method, url, data=None, *, source=None, offered_link=True):
        sid = transaction.savepoint()
        started = time.monotonic()
        response = self.client.post(url, data) if method == "post" else self.client.get(url)
        status = response.status_code
        if TRACE:
            print(f"{time.monotonic() - started:6.2f}s {status} {method.upper()} {url}", flush=True)
        if method == "post" or status >= 500:
            transaction.savepoint_rollback(sid)
        else:
            transaction.savepoint_commit(sid)
        self.visited.append((method.upper(), url, status, source))
        self.statuses[status // 100 * 100] += 1
        path = urlsplit(url).path
        if status >= 500:
            exc = getattr(response, "exc_info", None)
            detail = f"{status} {exc[0].__name__}: {exc[1]}" if exc else str(status)
            self.failures.append(Failure("server error", f"{method.upper()} {url}", detail, source))
        else:
            route = route_of(path)
            if route is not None:
                self.routes.add(route)
        if status == 404 and offered_link and source is not None:
            self.failures.append(Failure("broken link", url, "404 Not Found", source))
        return response

    def crawl(self, starts, probes=()):
        """Follow everything reachable from ``starts``; ``probes`` are fetched once each as well
        (URLs no page links to, such as admin autocomplete endpoints)."""
        queue = deque((url, None, True) for url in starts)
        for url in probes:
            self._visit(url, None, offered_link=False)
        while queue and len(self.visited) < self.max_pages:
            url, source, offered = queue.popleft()
            if not self._new(url):
                continue
            for link, is_link in self._visit(url, source, offered_link=offered):
                queue.append((link, url, is_link))
        return self

    def _budget(self, path_shape):
        """How many objects of one path shape to open: one per admin page shape; a few of the
        web UI's pages, whose content differs more with an object's state (an incident with
        or without a playbook, a rollout running or paused)."""
        return 1 if path_shape.startswith("/admin/") else self.objects_per_page

    def _new(self, url):
        """Whether ``url`` is a page shape not yet seen; marks it seen.

        A path is new once per identity (what a page shows depends on the role). A query string
        (filters, sorting, search, pages of a list) is new while one of its keys is new for that
        path, counted across every crawl sharing ``self.shared``: the same filter of the same
        list is opened once, not once per combination of filters nor once per role.
        """
        parts = urlsplit(url)
        path = DIGITS.sub("<n>", parts.path)
        keys = {k for k, _v in parse_qsl(parts.query, keep_blank_values=True)}
        keys -= IGNORED_QUERY_KEYS
        if not keys:
            if parts.path in self.opened or self.opened_per_shape[path] >= self._budget(path):
                return False
            self.opened.add(parts.path)
            self.opened_per_shape[path] += 1
            self.seen.add(path)
            return True
        tokens = {(path, key) for key in keys}
        if tokens <= self.shared:
            return False
        self.shared.update(tokens)
        self.seen.add(shape_of(url))
        return True

    def _visit(self, url, source, *, offered_link):
        response = self.request("get", url, source=source, offered_link=offered_link)
        if response.status_code in (301, 302, 303, 307, 308):
            return [(u, True) for u in self._internal([response["Location"]], url)]
        if response.status_code != 200:
            return []
        text = self._text(response)
        if text is None:
            return []
        self._check_leaks(url, text)
        if "html" not in response.get("Content-Type", ""):
            return []
        parser = PageParser()
        parser.feed(text)
        found = [(u, True) for u in self._internal(parser.links, url)]
        # A URL in a script's configuration may be a template ("/devices/0/" with the id put
        # in by the script): asked for, but a 404 there is no broken link.
        found += [(u, False) for u in self._internal(parser.script_urls, url)]
        for form in parser.forms:
            found.extend(self._form_targets(url, form))
        return found

    def _form_targets(self, page_url, form):
        action = urljoin(page_url, html.unescape(form.action)) if form.action else page_url
        (action,) = self._internal([action], page_url) or (None,)
        if action is None:
            return []
        if form.method == "get":
            fields = [(k, v) for k, v in form.fields if k != "csrfmiddlewaretoken"]
            base = urlsplit(action)
            return [(f"{base.path}?{urlencode(fields)}" if fields else base.path, True)]
        # A POST form: its action (and each button's formaction) is asked for with a GET (must
        # neither fail nor change anything; 405 is the usual answer), and a change form is
        # submitted unchanged once per shape.
        targets = [(action, False)]
        targets += [(u, False) for u in self._internal(form.other_actions, page_url)]
        if urlsplit(action).path == urlsplit(page_url).path:
            check = self.submit_unchanged(urlsplit(page_url).path, form)
            if check is not None:
                self._submit_unchanged(page_url, action, form, check)
        return targets

    def _submit_unchanged(self, page_url, action, form, check):
        key = ("POST", shape_of(action))
        if key in self.seen:
            return
        self.seen.add(key)
        data = {}
        for name, value in form.fields:
            data.setdefault(name, []).append(value)
        if form.submit:
            data.setdefault(form.submit[0], [form.submit[1]])
        before = check()
        response = self.request("post", action, data, source=page_url)
        if response.status_code >= 500:
            return
        after = check()
        if response.status_code not in (301, 302, 303):
            errors = _form_errors(response)
            self.failures.append(
                Failure(
                    "unchanged form",
                    f"POST {action}",
                    f"{response.status_code}, refused its own initial data: {errors}",
                    page_url,
                )
            )
        elif before != after:
            self.failures.append(
                Failure(
                    "unchanged form", f"POST {action}", f"changed {before} -> {after}", page_url
                )
            )

    # --- helpers ---------------------------------------------------------------------------------

    def _internal(self, urls, base):
        out = []
        for raw in urls:
            raw = html.unescape(raw.strip())
            if not raw or raw.startswith(("#", "javascript:", "mailto:", "data:", "tel:")):
                continue
            parts = urlsplit(urljoin(base, raw))
            if parts.scheme not in ("", "http", "https") or parts.netloc not in ("", "testserver"):
                continue  # another host: never followed
            if parts.path.startswith(SKIP_PREFIXES):
                continue
            out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
        return out

    @staticmethod
    def _text(response):
        content_type = response.get("Content-Type", "")
        if getattr(response, "streaming", False):
            return None
        if not any(t in content_type for t in ("html", "json", "text", "xml", "csv")):
            return None
        return html.unescape(response.content.decode("utf-8", "replace"))

    def _check_leaks(self, url, text):
        found = self.leaks.find(text)
        if found:
            self.failures.append(
                Failure("leak", url, f"another organization's data: {', '.join(found[:8])}")
            )

    def summary(self):
        by_status = ", ".join(f"{k // 100}xx: {v}" for k, v in sorted(self.statuses.items()))
        return (
            f"{self.name}: {len(self.visited)} requests, {len(self.seen)} page shapes ({by_status})"
        )


def _form_errors(response):
    context = getattr(response, "context", None)
    if context is None:
        return "?"
    for key in ("adminform", "form"):
        try:
            form = context[key]
        except KeyError:
            continue
        form = getattr(form, "form", form)
        errors = getattr(form, "errors", None)
        if errors:
            return dict(errors.items())
    return "no errors shown"


def url_routes(patterns=None, prefix=""):
    """Every URL pattern of the project as the resolver names it (``ResolverMatch.route``)."""
    from django.urls import URLResolver, get_resolver

    if patterns is None:
        patterns = get_resolver().url_patterns
    routes = []
    for pattern in patterns:
        part = str(pattern.pattern)
        if prefix and part.startswith("^"):
            part = part[1:]  # as URLResolver._join_route does
        if isinstance(pattern, URLResolver):
            routes.extend(url_routes(pattern.url_patterns, prefix + part))
        else:
            routes.append(prefix + part)
    return routes
