"""The MQTT bridge: broker -> the device ingest service (``manage.py mqtt_bridge``).

One paho client (MQTT 5, the service certificate, a persistent session: ``clean_start=False``
and a long session expiry) subscribes with QoS 1 to the shared subscriptions
``$share/<group>/devices/+/events`` and ``$share/<group>/devices/+/status``: the broker hands each
message to one bridge of the group, so several bridge processes share the load, and queues for a
bridge that is briefly away. Messages go from paho's network thread into a queue; the main loop
takes up to ``batch`` of them, stores them in one transaction (``handler.handle_batch``) and only
**after the commit** acknowledges each one (paho ``manual_ack``). A message delivered on an
earlier connection is never acknowledged on a later one (its packet id means something else
there); the broker redelivers it and the event id makes it a duplicate.

The database going away: the batch is retried with backoff, unacknowledged, until it commits.
The broker going away: paho reconnects with backoff (1 s doubling to 30 s).
"""

import json
import logging
import queue
import threading
import time
from collections import Counter

from django.db import close_old_connections, connection

from .client import connect_properties, default_client_id, endpoint, service_client
from .conf import mqtt_settings
from .handler import Delivered, handle_batch
from .topics import EVENTS, STATUS, commands_topic, shared

logger = logging.getLogger(__name__)
SESSION_EXPIRY = 7 * 86400


class Bridge:
    def __init__(
        self,
        *,
        client_id=None,
        group=None,
        host=None,
        port=None,
        folder=None,
        batch=5000,
        linger=0.05,
    ):
        conf = mqtt_settings()
        default_host, default_port = endpoint()
        self.host = host or default_host
        self.port = port or default_port
        self.group = group or conf["SHARED_GROUP"]
        self.client_id = client_id or default_client_id("bridge")
        self.batch = batch
        self.linger = linger
        self.stats = Counter()
        self.connected = threading.Event()
        self._queue = queue.Queue()
        self._generation = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.client = service_client(self.client_id, manual_ack=True, folder=folder)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # --- paho's network thread ---------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.stats["connect_failures"] += 1
            logger.error("MQTT broker refused the bridge: %s", reason_code)
            return
        with self._lock:
            self._generation += 1
        self.stats["connects"] += 1
        client.subscribe(
            [
                (shared(self.group, f"devices/+/{EVENTS}"), 1),
                (shared(self.group, f"devices/+/{STATUS}"), 1),
            ]
        )
        logger.info(
            "bridge %s connected to %s:%s (session present: %s)",
            self.client_id,
            self.host,
            self.port,
            flags.session_present,
        )
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected.clear()
        if not self._stop.is_set():
            self.stats["disconnects"] += 1
            logger.warning("bridge disconnected from the broker (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message):
        with self._lock:
            generation = self._generation
        self._queue.put(
            Delivered(message.topic, message.payload, token=(generation, message.mid, message.qos))
        )

    # --- the main loop -------------------------------------------------------------------------

    def start(self):
        props = connect_properties(
            session_expiry=SESSION_EXPIRY, receive_maximum=min(self.batch * 2, 65535)
        )
        self.client.connect_async(
            self.host, self.port, keepalive=30, clean_start=False, properties=props
        )
        self.client.loop_start()

    def stop(self):
        self._stop.set()
        self.client.disconnect()
        self.client.loop_stop()

    def _take(self):
        try:
            first = self._queue.get(timeout=0.5)
        except queue.Empty:
            return []
        messages = [first]
        deadline = time.monotonic() + self.linger
        while len(messages) < self.batch:
            remaining = deadline - time.monotonic()
            try:
                messages.append(
                    self._queue.get_nowait()
                    if remaining <= 0
                    else self._queue.get(timeout=remaining)
                )
            except queue.Empty:
                break
        return messages

    def _store(self, messages):
        delay = 0.5
        while True:
            try:
                close_old_connections()
                return handle_batch(messages)
            except Exception:
                self.stats["db_retries"] += 1
                logger.exception(
                    "storing %d MQTT messages failed; retrying in %.1f s", len(messages), delay
                )
                connection.close()
                if self._stop.wait(delay):
                    return None
                delay = min(delay * 2, 30)

    def _acknowledge(self, messages):
        with self._lock:
            generation = self._generation
        for message in messages:
            if message.token is None:
                continue
            gen, mid, qos = message.token
            if gen != generation or qos == 0:
                self.stats["ack_skipped"] += 1  # redelivered on the new connection instead
                continue
            self.client.ack(mid, qos)

    def _answer_rejections(self, rejected):
        for uid, results in rejected.items():
            body = json.dumps({"type": "events_rejected", "results": results[:100]})
            self.client.publish(commands_topic(uid), body, qos=1)

    def process_once(self):
        messages = self._take()
        if not messages:
            return 0
        outcome = self._store(messages)
        if outcome is None:
            return 0
        self._acknowledge(messages)
        self.stats.update(outcome.counts)
        self.stats["batches"] += 1
        if outcome.rejected_items:
            self._answer_rejections(outcome.rejected_items)
        return len(messages)

    def run(self, *, duration=None):
        self.start()
        ends = time.monotonic() + duration if duration else None
        try:
            while not self._stop.is_set() and (ends is None or time.monotonic() < ends):
                self.process_once()
        finally:
            self.stop()
