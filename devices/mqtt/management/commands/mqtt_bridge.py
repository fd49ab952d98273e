"""``manage.py mqtt_bridge``: feed what devices publish over MQTT into the device ingest service."""

import signal

from django.core.management.base import BaseCommand

from devices.mqtt.bridge import Bridge


class Command(BaseCommand):
    help = "Subscribe to devices/+/events (shared subscription) and ingest what devices publish."

    def add_arguments(self, parser):
        parser.add_argument(
            "--client-id", help="Stable per process: its session survives restarts."
        )
        parser.add_argument("--group", help="Shared-subscription group (default 'encompass').")
        parser.add_argument("--host")
        parser.add_argument("--port", type=int)
        parser.add_argument("--dir", help="Folder of bridge.crt/.key and broker-ca.pem.")
        parser.add_argument(
            "--batch", type=int, default=5000, help="At most this many messages per transaction."
        )
        parser.add_argument("--duration", type=float, default=0, help="Stop after S s (0: never).")

    def handle(self, *args, **opts):
        from pathlib import Path

        bridge = Bridge(
            client_id=opts["client_id"],
            group=opts["group"],
            host=opts["host"],
            port=opts["port"],
            folder=Path(opts["dir"]) if opts["dir"] else None,
            batch=opts["batch"],
        )

        def stop(signum, frame):
            bridge._stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"MQTT bridge {bridge.client_id} -> {bridge.host}:{bridge.port}")
        bridge.run(duration=opts["duration"] or None)
        self.stdout.write(f"stopped: {dict(bridge.stats)}")
