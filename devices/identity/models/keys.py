"""Private keys of the software key store, encrypted at rest (see ``devices.identity.keystore``)."""

import uuid

from django.db import models


class WrappedKey(models.Model):
    """One private key, AES-256-GCM encrypted under the key-encryption key named by ``kek_id``.

    Never shown anywhere (no admin, no API); only the key store reads it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    label = models.CharField(max_length=200, unique=True)
    kek_id = models.CharField(max_length=16, db_index=True)
    nonce = models.BinaryField(max_length=12)
    ciphertext = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    rewrapped_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return f"key {self.label} (KEK {self.kek_id})"
