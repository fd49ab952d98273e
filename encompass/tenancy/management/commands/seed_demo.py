"""Build a realistic multi-organization demo: two organizations, sites, a user for every role
with a generated password (printed once), then every app's demo data."""

import os
import secrets
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings

from encompass.audit.context import use_context
from encompass.demo import DemoContext, DemoOrg
from encompass.tenancy import crud
from encompass.tenancy.models import Organization, Site
from encompass.tenancy.roles import Role
from encompass.tenancy.services import add_membership, create_organization

User = get_user_model()

ORGS = [
    (
        "Northwind Utilities",
        "northwind",
        "Water and power utility running smart meters and pumping-station controllers.",
        [
            ("Harbour Pumping Station", "harbour", "1 Quay Road, Portsmouth"),
            ("Riverside Substation", "riverside", "Mill Lane, Winchester"),
            ("Downs Reservoir", "downs", "Reservoir Road, Petersfield"),
        ],
    ),
    (
        "Helios Buildings",
        "helios",
        "Facilities operator with building-automation gateways, cameras and environmental sensors.",
        [
            ("Tower One", "tower-one", "10 Market Street, Leeds"),
            ("Canal Campus", "canal", "2 Wharf Approach, Manchester"),
        ],
    ),
]
PERSONAS = {
    Role.ADMIN: ("Ada", "Admin"),
    Role.SECURITY_OFFICER: ("Sam", "Security"),
    Role.OPERATOR: ("Olu", "Operator"),
    Role.TECHNICIAN: ("Tess", "Technician"),
    Role.AUDITOR: ("Aud", "Auditor"),
}


def _password():
    return secrets.token_urlsafe(12)


ACTOR = "command:seed_demo"


def _write_private(path, text):
    """Write ``text`` to ``path`` readable by the owner only (the demo's generated passwords)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


class Command(BaseCommand):
    help = (
        "Create the demo organizations, sites, one user per role (generated passwords, printed "
        "once) and every app's demo fleet. Does nothing when the demo is already there."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--credentials-file",
            help="also write the generated sign-ins to this file (mode 0600), e.g. for make run",
        )

    def handle(self, *args, **options):
        if Organization.objects.filter(slug__in=[o[1] for o in ORGS]).exists():
            self.stdout.write(
                "Demo data already present; nothing to do. The sign-ins were printed when it was "
                "seeded (`make reset` deletes the demo database so the next `make run` seeds a "
                "fresh one with new passwords)."
            )
            return
        ctx = DemoContext(orgs=[], credentials=[], log=lambda m: self.stdout.write(f"  {m}"))
        # The demo's notification emails (responders added, SLA breaches) are kept in memory
        # rather than printed: the sign-ins are what a new user needs to see here.
        with (
            override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"),
            transaction.atomic(),
            use_context(channel="command"),
        ):
            for name, slug, description, sites in ORGS:
                org = create_organization(
                    name=name, slug=slug, description=description, actor=ACTOR
                )
                site_rows = [
                    crud.create_object(
                        Site,
                        {"organization": org, "name": s_name, "slug": s_slug, "address": address},
                        actor=ACTOR,
                        system=True,
                    )
                    for s_name, s_slug, address in sites
                ]
                users = {}
                for role, (first, last) in PERSONAS.items():
                    username = f"{slug}-{role.value.replace('_', '-')}"
                    password = _password()
                    user = User.objects.create_user(
                        username=username,
                        password=password,
                        first_name=first,
                        last_name=f"{last} ({name.split()[0]})",
                        email=f"{username}@example.test",
                        is_staff=True,
                    )
                    add_membership(organization=org, user=user, role=role, actor=ACTOR, system=True)
                    users[role.value] = user
                    ctx.credentials.append((username, password, role.label, name))
                tech = User.objects.create_user(
                    username=f"{slug}-field-tech",
                    password=(pw := _password()),
                    first_name="Fran",
                    last_name="Field",
                    email=f"{slug}-field@example.test",
                    is_staff=True,
                )
                add_membership(
                    organization=org,
                    user=tech,
                    role=Role.TECHNICIAN,
                    sites=[site_rows[0]],
                    actor=ACTOR,
                    system=True,
                )
                ctx.credentials.append(
                    (tech.username, pw, f"Technician ({site_rows[0].name})", name)
                )
                ctx.orgs.append(
                    DemoOrg(org=org, sites=site_rows, users=users, admin=users[Role.ADMIN.value])
                )
            for config in apps.get_app_configs():
                module = f"{config.name}.demo"
                if not config.name.startswith(
                    ("encompass.", "devices", "incidents", "risk", "compliance")
                ):
                    continue
                try:
                    spec = find_spec(module)
                except ModuleNotFoundError:
                    spec = None
                if spec is None:
                    continue
                self.stdout.write(f"Seeding {config.verbose_name} …")
                import_module(module).seed(ctx)
        width = max(len(u) for u, *_ in ctx.credentials)
        lines = [
            f"  {username:<{width}}  {password}   {role}, {org}"
            for username, password, role, org in ctx.credentials
        ]
        note = (
            "Admins and Security officers set up an authenticator app (TOTP) at their first "
            "sign-in."
        )
        self.stdout.write(
            self.style.SUCCESS(
                "Demo ready. Sign in with any of these (generated now, shown this once):"
            )
        )
        self.stdout.write("\n".join(lines))
        self.stdout.write(note)
        if options["credentials_file"]:
            _write_private(options["credentials_file"], "\n".join([*lines, note, ""]))
            path = options["credentials_file"]
            self.stdout.write(f"(Also written to {path}, readable by you only.)")
