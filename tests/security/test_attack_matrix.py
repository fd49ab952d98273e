"""The standing attack matrix: every REST operation of the schema, probed by every kind of actor.

Generated from the URL configuration and the OpenAPI schema (``surface.py``): a new endpoint is
probed without anyone adding it here, and ``test_every_route_is_probed_or_exempt`` fails for a
route that is neither probed nor listed in ``EXEMPT`` with a reason.

Actors: anonymous; in tenant A a user and an API key (``create_api_key``) of every role, the
site-narrowed technician, and a signed-in user of no organization; tenant B's Admin (user and
key) is "another organization". Probes, per operation:

* anonymous is refused (401/403), for every operation, the device API included;
* detail routes (``{id}``): another organization's object and a missing id get the same
  answer -- status and body, the id aside -- for every actor in A, for reads, writes, deletes
  and custom actions alike, and it is never a success;
* lists: what an actor gets is within its reach (``restrict(user, 'view')``), and each filter
  naming a related row answers the same for B's row and for a missing id;
* writes naming another organization's rows in a body field (device ``site``, incident
  ``affected_devices``, risk ``assets``, rollout ``release`` ... every related field the
  request serializer has) answer exactly as for a missing id;
* roles: an Auditor (read-only) never succeeds at a write; a role that the model's
  ``role_permissions`` does not allow never succeeds at create / update / delete;
* no answer is a server error, and tenant B's audit trail does not grow while A probes it.

It prints its counts (operations x actors, requests).
"""

import json
import re
from collections import Counter

import pytest
from rest_framework.test import APIClient

from encompass.audit.models import AuditEntry
from encompass.tenancy.access import allowed_roles
from encompass.tenancy.roles import Role
from encompass.tenancy.services import create_api_key

from .surface import (
    is_tenant_model,
    missing_pk,
    operations,
    related_fields,
    row_of,
    serializer_instance,
    undocumented_api_routes,
)
from .tenant_data import seed_tenant

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# Operations not probed here, each with the reason and where it is tested instead.
EXEMPT = {
    "POST /api/device/v1/enroll": (
        "anonymous by design: the one-time enrollment token in the body is the credential "
        "(tests/identity/test_enrollment.py)"
    ),
    "GET /api/device/v1/update/artifact/{release_id}": (
        "its path parameter is not the pk this matrix fills in; anonymous, other devices' and "
        "other tenants' downloads are refused in tests/firmware"
    ),
}
# hawkBit DDI lives outside /api/ with the organization's slug in the path, which this matrix's
# URL builder does not fill in: every DDI operation is exempt, and tests/ddi/test_security.py
# refuses anonymous, wrong-token, other-tenant and retired-device requests on each.
EXEMPT_PREFIX = ("/{tenant}/controller/v1/",)
# Routes under /api/ that the schema does not document, with the reason.
UNDOCUMENTED_EXEMPT: dict[str, str] = {}
MUTATING_ACTIONS = {"create": "add", "update": "change", "partial_update": "change"}


def _key_client(tenant, role):
    _key, plaintext = create_api_key(
        organization=tenant.org, name=f"matrix {role}", role=role, actor=tenant.user(Role.ADMIN)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def _user_client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


class Actors:
    """The principals probing the API, each with the user whose reach it has."""

    def __init__(self, world):
        self.anonymous = APIClient()
        self.a = {}  # label -> (client, user, role or None)
        for role in Role.values:
            user = world.a.user(role)
            self.a[f"A {role} (user)"] = (_user_client(user), user, role)
            self.a[f"A {role} (API key)"] = (_key_client(world.a, role), None, role)
        self.a["A site technician"] = (
            _user_client(world.site_technician),
            world.site_technician,
            None,
        )
        self.a["no organization"] = (_user_client(world.outsider), world.outsider, None)
        # Reads and foreign-object probes: every role as a user, the site technician, the
        # user of no organization, and two keys (the key path authenticates, then the same
        # reach applies); every key probes the role matrix.
        self.probing = {
            label: actor
            for label, actor in self.a.items()
            if "(API key)" not in label
            or label in (f"A {Role.ADMIN} (API key)", f"A {Role.AUDITOR} (API key)")
        }
        self.admins = {
            label: self.a[label]
            for label in (f"A {Role.ADMIN} (user)", f"A {Role.ADMIN} (API key)")
        }
        self.b = {
            "B admin (user)": (_user_client(world.b.user(Role.ADMIN)), None, Role.ADMIN),
            "B admin (API key)": (_key_client(world.b, Role.ADMIN), None, Role.ADMIN),
        }

    def count(self):
        return 1 + len(self.a) + len(self.b)


class Probe:
    def __init__(self):
        self.requests = 0
        self.failures = []
        self.probed = Counter()

    def send(self, client, method, url, body=None):
        self.requests += 1
        if body is None:
            response = client.generic(method, url)
        else:
            response = client.generic(
                method, url, json.dumps(body), content_type="application/json"
            )
        if response.status_code >= 500:
            self.fail(f"{method} {url}: {response.status_code} server error")
        return response

    def fail(self, message):
        self.failures.append(message)


def _answer(response, *ids):
    body = response.content.decode(errors="replace")
    for pk in ids:
        body = re.sub(rf"\b{pk}\b", "<id>", body)
    return response.status_code, body


def _body_for(op):
    return {} if op.unsafe else None


@pytest.fixture
def seeded(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    seed_tenant(world.a)
    seed_tenant(world.b)
    return world


def test_every_route_is_probed_or_exempt():
    keys = {op.key for op in operations()}
    stale = sorted(set(EXEMPT) - keys)
    assert not stale, f"exempt operations that no longer exist: {stale}"
    undocumented = sorted(undocumented_api_routes() - set(UNDOCUMENTED_EXEMPT))
    assert not undocumented, (
        f"routes under /api/ missing from the schema (document them or exempt them): {undocumented}"
    )
    stale_routes = sorted(set(UNDOCUMENTED_EXEMPT) - undocumented_api_routes())
    assert not stale_routes, (
        f"exempt undocumented routes that are now gone or documented: {stale_routes}"
    )


def test_attack_matrix(seeded, capsys):
    world = seeded
    actors = Actors(world)
    probe = Probe()
    ops = [
        op for op in operations() if op.key not in EXEMPT and not op.path.startswith(EXEMPT_PREFIX)
    ]
    b_audit = AuditEntry.objects.filter(organization=world.b.org).count()
    for op in ops:
        _anonymous(probe, actors, op)
    for op in ops:
        if op.path.startswith("/api/v1/"):
            if op.detail:
                _foreign_and_missing(probe, actors, world, op)
            elif op.method == "GET":
                _list_reach(probe, actors, world, op)
            if op.unsafe:
                _references(probe, actors, world, op)
    for op in ops:
        if op.path.startswith("/api/v1/") and op.unsafe:
            _roles(probe, actors, world, op)
    assert AuditEntry.objects.filter(organization=world.b.org).count() == b_audit, (
        "tenant B's audit trail grew while tenant A probed it"
    )
    with capsys.disabled():
        print(
            f"\nattack matrix: {len(ops)} operations x {actors.count()} actors, "
            f"{probe.requests} requests; "
            + ", ".join(f"{k} {v}" for k, v in sorted(probe.probed.items()))
        )
    assert not probe.failures, "\n".join(probe.failures[:80])


def _anonymous(probe, actors, op):
    url = op.url(pk=1, item="data_wipe")
    response = probe.send(actors.anonymous, op.method, url, _body_for(op))
    probe.probed["anonymous"] += 1
    if response.status_code not in (401, 403):
        probe.fail(f"{op.key}: anonymous got {response.status_code}")


def _foreign_and_missing(probe, actors, world, op):
    model = op.model
    missing = missing_pk(model) if model is not None else 987654321
    theirs = row_of(model, world.b.org)
    _compare(probe, op, actors.probing if theirs else actors.admins, theirs, missing)
    # and the other way round: tenant B's Admin (user and key) at tenant A's object
    _compare(probe, op, actors.b, row_of(model, world.a.org), missing)


def _compare(probe, op, probing, foreign, missing):
    for label, (client, _user, _role) in probing.items():
        answers = {}
        for kind, pk in (("foreign", foreign.pk if foreign else None), ("missing", missing)):
            if pk is None:
                continue
            response = probe.send(client, op.method, op.url(pk=pk, item="data_wipe"), _body_for(op))
            answers[kind] = _answer(response, pk)
            if 200 <= response.status_code < 300:
                probe.fail(f"{op.key} as {label}: {kind} object answered {response.status_code}")
        if len(answers) == 2:
            probe.probed["foreign-vs-missing"] += 1
            if answers["foreign"] != answers["missing"]:
                probe.fail(
                    f"{op.key} as {label}: foreign {answers['foreign'][0]} "
                    f"{answers['foreign'][1][:120]!r} != missing {answers['missing'][0]} "
                    f"{answers['missing'][1][:120]!r}"
                )
        else:
            probe.probed["missing only (no foreign row)"] += 1


def _rows(response):
    if not response.get("Content-Type", "").startswith("application/json"):
        return None
    data = response.json()
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        return data["results"]
    return data if isinstance(data, list) else None


def _list_reach(probe, actors, world, op):
    model = op.model
    if not is_tenant_model(model):
        probe.probed["list without a tenant model"] += 1
        return
    theirs = set(
        model._default_manager.filter(**{model.tenant_lookup: world.b.org.pk}).values_list(
            "pk", flat=True
        )
    )
    for label, (client, _user, _role) in actors.probing.items():
        response = probe.send(client, "GET", op.url())
        if response.status_code != 200:
            continue
        rows = _rows(response)
        if rows is None:
            continue
        probe.probed["list reach"] += 1
        leaked = {row.get("id") for row in rows if isinstance(row, dict)} & theirs
        if leaked:
            probe.fail(f"{op.key} as {label}: lists tenant B's rows {sorted(leaked)[:5]}")
    _filters(probe, actors, world, op)


def _filters(probe, actors, world, op):
    """Each filter naming a related row: B's id and a missing id answer alike."""
    from encompass.api.filters import FilterBackend

    view = op.view_class()
    queryset = getattr(view, "queryset", None)
    filterset_class = (
        FilterBackend().get_filterset_class(view, queryset) if queryset is not None else None
    )
    if filterset_class is None:
        return
    client = actors.a[f"A {Role.ADMIN} (user)"][0]
    for name, flt in filterset_class.base_filters.items():
        related = getattr(flt, "queryset", None)
        model = getattr(related, "model", None)
        if not is_tenant_model(model):
            continue
        theirs = row_of(model, world.b.org)
        if theirs is None:
            continue
        missing = missing_pk(model)
        foreign = _answer(probe.send(client, "GET", op.url() + f"?{name}={theirs.pk}"), theirs.pk)
        absent = _answer(probe.send(client, "GET", op.url() + f"?{name}={missing}"), missing)
        probe.probed["filter foreign-vs-missing"] += 1
        if foreign != absent:
            probe.fail(
                f"{op.key} ?{name}=: foreign {foreign[:1]} {foreign[1][:120]!r} != missing {absent[:1]} {absent[1][:120]!r}"
            )


def _target(world, op):
    """The URL a write is sent to: an A row for a detail route, else the collection."""
    if not op.detail:
        return op.url()
    mine = row_of(op.model, world.a.org)
    return op.url(pk=mine.pk, item="data_wipe") if mine is not None else None


def _references(probe, actors, world, op):
    admin = actors.a[f"A {Role.ADMIN} (user)"]
    context = {"request": None}
    fields = related_fields(serializer_instance(op.request_serializer, context))
    url = _target(world, op)
    if not fields or url is None or op.method == "DELETE":
        return
    for name, (model, many) in fields.items():
        if name == "organization" and op.detail:
            continue  # moving a row between organizations has its own answer
        theirs = row_of(model, world.b.org)
        if theirs is None:
            probe.probed["reference without a foreign row"] += 1
            continue
        missing = missing_pk(model)
        answers = {}
        for kind, pk in (("foreign", theirs.pk), ("missing", missing)):
            body = {name: [pk] if many else pk}
            response = probe.send(admin[0], op.method, url, body)
            answers[kind] = _answer(response, pk)
        probe.probed["body reference foreign-vs-missing"] += 1
        if answers["foreign"] != answers["missing"]:
            probe.fail(
                f"{op.key} field {name!r}: foreign {answers['foreign'][0]} "
                f"{answers['foreign'][1][:160]!r} != missing {answers['missing'][0]} "
                f"{answers['missing'][1][:160]!r}"
            )


def _roles(probe, actors, world, op):
    url = _target(world, op)
    if url is None:
        return
    model = op.model
    action = MUTATING_ACTIONS.get(op.action)
    if op.method == "DELETE":
        action = "delete"
    for label, (client, _user, role) in actors.a.items():
        if role is None:
            continue
        forbidden = role == Role.AUDITOR or (
            action is not None
            and model is not None
            and hasattr(model, "role_permissions")
            and role not in allowed_roles(model, action)
        )
        if not forbidden:
            continue  # allowed writes are the apps' own API tests (TenantAPIContract)
        response = probe.send(client, op.method, url, _body_for(op))
        probe.probed["forbidden role write"] += 1
        if 200 <= response.status_code < 300:
            probe.fail(f"{op.key} as {label}: a forbidden write answered {response.status_code}")
