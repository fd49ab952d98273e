"""The demo world ``manage.py seed_demo`` builds, shared by every app's ``demo.py``.

Each installed Encompass app may have a ``demo.py`` with ``seed(ctx: DemoContext)``; the command
calls them in INSTALLED_APPS order after creating organizations, sites and users, so an app can
use what earlier apps made (``ctx.data`` carries it: ``ctx.data["devices"][org.slug]`` ...).
Seeds must be deterministic given ``ctx.rng`` and must write through the services.
"""

import random
from dataclasses import dataclass, field


@dataclass
class DemoOrg:
    org: object
    sites: list
    users: dict  # role value -> user (organization-wide)
    admin: object = None

    def user(self, role):
        return self.users[str(role)]


@dataclass
class DemoContext:
    orgs: list  # [DemoOrg]
    credentials: list  # [(username, password, role, org name)] printed once at the end
    rng: random.Random = field(default_factory=lambda: random.Random(303645))
    data: dict = field(default_factory=dict)
    log: object = print

    def org(self, slug):
        return next(o for o in self.orgs if o.org.slug == slug)
