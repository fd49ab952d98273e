"""``manage.py mqtt_broker_config --organization SLUG --actor USER``: the broker's files.

Writes mosquitto.conf, the ACLs, the CA bundles, the CRL file and (with ``--issue``, or when there
are none yet) the broker's server certificate and the bridge's client certificate, issued by the
operator organization's CA and audited. ``--crl-only`` rewrites the CRL and CA files and reloads
the broker (a timer's job where the broker runs on another machine).
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from devices.mqtt.broker import reload_broker, sync_crl, write_broker_files
from devices.mqtt.conf import broker_dir
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy.models import Organization


class Command(BaseCommand):
    help = "Write the Mosquitto configuration, ACLs, certificates and CRL file for MQTT over mTLS."

    def add_arguments(self, parser):
        parser.add_argument(
            "--organization",
            help="Slug of the operator organization (its CA "
            "issues the broker's and the bridge's certificates).",
        )
        parser.add_argument("--actor", help="Username of an Admin / Security officer of it.")
        parser.add_argument("--dir", help="Output folder (default ENCOMPASS_MQTT_DIR, var/mqtt).")
        parser.add_argument(
            "--issue", action="store_true", help="Issue fresh service certificates."
        )
        parser.add_argument("--user", help="The user Mosquitto drops to (its `user` option).")
        parser.add_argument("--crl-only", action="store_true")
        parser.add_argument("--reload", action="store_true", help="Tell the broker to reload.")

    def handle(self, *args, **opts):
        folder = opts["dir"] or broker_dir()
        if opts["crl_only"]:
            took = sync_crl(folder)
            if took is None:
                raise CommandError(f"No mosquitto.conf in {folder}: generate the files first.")
            self.stdout.write(f"CRL and CA files rewritten, reload sent ({took:.3f} s).")
            return
        if not opts["organization"] or not opts["actor"]:
            raise CommandError("--organization and --actor are required.")
        org = Organization.objects.filter(slug=opts["organization"]).first()
        if org is None:
            raise CommandError(f"No organization {opts['organization']!r}.")
        actor = get_user_model().objects.filter(username=opts["actor"]).first()
        if actor is None:
            raise CommandError(f"No user {opts['actor']!r}.")
        try:
            written = write_broker_files(
                org, actor=actor, folder=folder, issue=opts["issue"], run_as=opts["user"]
            )
        except NotPermitted as exc:
            raise CommandError(
                f"{actor} may not issue {org}'s service certificates: {exc}"
            ) from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        for path in written:
            self.stdout.write(str(path))
        if opts["reload"]:
            reload_broker(folder)
        self.stdout.write(f"Run: mosquitto -c {folder}/mosquitto.conf")
