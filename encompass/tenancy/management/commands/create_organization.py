"""Create a tenant (a platform operator task), optionally with its sites and first Admin."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from encompass.audit.context import use_context
from encompass.tenancy import crud
from encompass.tenancy.models import Site
from encompass.tenancy.roles import Role
from encompass.tenancy.services import add_membership, create_organization

ACTOR = "command:create_organization"


def _messages(exc):
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    return "; ".join(exc.messages)


class Command(BaseCommand):
    help = "Create an organization (tenant), optionally with sites and an existing user as Admin."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--slug", required=True, help="lowercase letters, digits, hyphens")
        parser.add_argument("--description", default="")
        parser.add_argument(
            "--site",
            action="append",
            default=[],
            metavar="SLUG=NAME",
            help="add a site (repeatable), e.g. --site harbour='Harbour Pumping Station'",
        )
        parser.add_argument("--admin", help="username of an existing user to make its first Admin")

    def handle(self, *args, **options):
        sites = []
        for spec in options["site"]:
            slug, sep, name = spec.partition("=")
            if not sep or not slug.strip() or not name.strip():
                raise CommandError(f"--site {spec!r}: use SLUG=NAME")
            sites.append((slug.strip(), name.strip()))
        admin = None
        if options["admin"]:
            admin = get_user_model().objects.filter(username=options["admin"]).first()
            if admin is None:
                raise CommandError(
                    f"--admin: no user named {options['admin']!r} (add_member --create)"
                )
        try:
            with transaction.atomic(), use_context(channel="command"):
                org = create_organization(
                    name=options["name"],
                    slug=options["slug"],
                    description=options["description"],
                    actor=ACTOR,
                )
                for slug, name in sites:
                    crud.create_object(
                        Site,
                        {"organization": org, "slug": slug, "name": name},
                        actor=ACTOR,
                        system=True,
                    )
                if admin is not None:
                    add_membership(
                        organization=org, user=admin, role=Role.ADMIN, actor=ACTOR, system=True
                    )
        except ValidationError as exc:
            raise CommandError(_messages(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(f"Created organization {org.name} ({org.slug}), id {org.pk}")
        )
        for slug, name in sites:
            self.stdout.write(f"  site {slug}: {name}")
        if admin is not None:
            self.stdout.write(f"  Admin: {admin.get_username()}")
