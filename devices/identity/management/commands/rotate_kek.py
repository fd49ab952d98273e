"""Re-encrypt every stored private key, and every other secret registered with the key store
(webhook signing secrets), under the current key-encryption key.

Rotation: put the new KEK in ENCOMPASS_KEY_ENCRYPTION_KEY and the old one(s) in
ENCOMPASS_PREVIOUS_KEY_ENCRYPTION_KEYS (comma separated), restart, run this command, then remove
ENCOMPASS_PREVIOUS_KEY_ENCRYPTION_KEYS. Safe to run twice; each key is rewrapped in its own
transaction, so an interrupted run is simply run again.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from devices.identity.keystore import (
    KeyStoreError,
    SoftwareKeyStore,
    get_key_store,
    rewrap_hooks,
)
from devices.identity.models import WrappedKey
from encompass.audit.services import record_audit


class Command(BaseCommand):
    help = (
        "Re-encrypt every CA private key and every other secret at rest (webhook signing "
        "secrets) under the current key-encryption key."
    )

    def handle(self, *args, **options):
        store = get_key_store()
        failed = 0
        if isinstance(store, SoftwareKeyStore):
            failed += self._rewrap_keys(store)
        else:
            self.stdout.write("CA keys live in an HSM key store: nothing to rewrap there.")
        for name, hook in sorted(rewrap_hooks().items()):
            done, hook_failed = hook(write=self.stderr.write)
            failed += hook_failed
            self.stdout.write(f"Rewrapped {done} {name}; {hook_failed} failed.")
        if failed:
            raise CommandError("Some secrets could not be decrypted: list their old KEK and rerun.")

    def _rewrap_keys(self, store):
        rewrapped = failed = 0
        for pk in WrappedKey.objects.exclude(kek_id=store.current_id).values_list("pk", flat=True):
            with transaction.atomic():
                row = WrappedKey.objects.select_for_update().get(pk=pk)
                old = row.kek_id
                try:
                    changed = store.rewrap(row)
                except KeyStoreError as exc:
                    failed += 1
                    self.stderr.write(f"{row.label}: {exc}")
                    continue
                if changed:
                    rewrapped += 1
                    record_audit(
                        "identity.keystore.rewrap",
                        actor="command:rotate_kek",
                        object_repr=row.label,
                        changes={"kek_id": [old, row.kek_id]},
                    )
        self.stdout.write(
            f"Rewrapped {rewrapped} key(s) under KEK {store.current_id}; {failed} failed."
        )
        return failed
