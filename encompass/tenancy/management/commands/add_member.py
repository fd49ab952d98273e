"""Give a user a role in an organization (a platform operator task), creating the user if asked."""

import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from encompass.audit.context import use_context
from encompass.audit.services import record_audit
from encompass.tenancy.models import Organization, Site
from encompass.tenancy.roles import Role
from encompass.tenancy.services import add_membership

from .create_organization import _messages

ACTOR = "command:add_member"


class Command(BaseCommand):
    help = (
        "Add a user to an organization with a role (optionally narrowed to sites). With --create "
        "the user is created with a generated password, printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--organization", required=True, help="organization slug")
        parser.add_argument("--username", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--site", action="append", default=[], help="site slug (repeatable)")
        parser.add_argument("--create", action="store_true", help="create the user first")
        parser.add_argument("--email", default="")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")

    def handle(self, *args, **options):
        User = get_user_model()
        org = Organization.objects.filter(slug=options["organization"]).first()
        if org is None:
            raise CommandError(f"--organization: no organization {options['organization']!r}")
        sites = []
        for slug in options["site"]:
            site = Site.objects.filter(organization=org, slug=slug).first()
            if site is None:
                raise CommandError(f"--site: {org.slug} has no site {slug!r}")
            sites.append(site)
        username = options["username"]
        password = None
        try:
            with transaction.atomic(), use_context(channel="command"):
                user = User.objects.filter(username=username).first()
                if options["create"]:
                    if user is not None:
                        raise CommandError(f"--create: a user named {username!r} already exists")
                    password = secrets.token_urlsafe(15)
                    user = User(
                        username=username,
                        email=options["email"],
                        first_name=options["first_name"],
                        last_name=options["last_name"],
                        is_staff=True,
                    )
                    user.set_password(password)
                    user.full_clean()
                    user.save()
                    record_audit(
                        "auth.user.create",
                        actor=ACTOR,
                        organization=org,
                        obj=user,
                        object_repr=username,
                        changes={"after": {"username": username, "email": options["email"]}},
                    )
                elif user is None:
                    raise CommandError(f"--username: no user {username!r} (use --create)")
                membership = add_membership(
                    organization=org,
                    user=user,
                    role=options["role"],
                    sites=sites,
                    actor=ACTOR,
                    system=True,
                )
        except ValidationError as exc:
            raise CommandError(_messages(exc)) from exc
        scope = ", ".join(s.slug for s in sites) or "whole organization"
        self.stdout.write(
            self.style.SUCCESS(
                f"{username} is now {membership.get_role_display()} in {org.name} ({scope})"
            )
        )
        if password:
            self.stdout.write(
                f"Generated password (shown once, not stored in clear): {password}\n"
                "Admins and Security officers set up TOTP at their first sign-in."
            )
