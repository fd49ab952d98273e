"""Print who may do what, generated from every tenant model's ``role_permissions`` table."""

from django.apps import apps
from django.core.management.base import BaseCommand

from encompass.tenancy.roles import ROLE_DESCRIPTIONS, Role

FOUNDATION_APPS = ("tenancy", "audit")


def role_tables(app_labels=None):
    """``[(model label, verbose name, {action: [role labels]})]`` for models with a role table."""
    rows = []
    for model in apps.get_models():
        table = model.__dict__.get("role_permissions") or getattr(model, "role_permissions", None)
        manager = getattr(model, "objects", None)
        if not table or not hasattr(manager, "restrict"):
            continue
        if app_labels is not None and model._meta.app_label not in app_labels:
            continue
        actions = {
            action: [label for value, label in Role.choices if value in roles]
            for action, roles in table.items()
        }
        rows.append((model._meta.label, str(model._meta.verbose_name), actions))
    return sorted(rows)


def render_markdown(app_labels=None):
    lines = ["| role | what it is for |", "|---|---|"]
    lines += [f"| {Role(r).label} | {text} |" for r, text in ROLE_DESCRIPTIONS.items()]
    lines += ["", "| model | action | roles |", "|---|---|---|"]
    for label, _name, actions in role_tables(app_labels):
        for action, roles in actions.items():
            lines.append(
                f"| `{label}` | {action} | {', '.join(roles) or 'no role (platform operators)'} |"
            )
    return "\n".join(lines) + "\n"


class Command(BaseCommand):
    help = "Print the role / permission tables (Markdown) that restrict() enforces."

    def add_arguments(self, parser):
        parser.add_argument(
            "--app", action="append", help="only these app labels (repeatable); default: all"
        )
        parser.add_argument(
            "--foundation", action="store_true", help="only the tenancy and audit apps"
        )

    def handle(self, *args, **options):
        labels = FOUNDATION_APPS if options["foundation"] else options["app"]
        self.stdout.write(render_markdown(labels), ending="")
