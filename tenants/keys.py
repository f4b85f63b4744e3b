"""Per-tenant data keys, wrapped by the service's master key (envelope encryption).

Each tenant gets a random AES-256 key at creation. Only its wrapped form is
stored; unwrapping needs ``MASTER_KEY``, which lives in the environment (or,
for the embedded default, in ``var/keys``) and never in the database.
"""

from __future__ import annotations

import base64
import binascii
import os
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_WRAP_VERSION = b"\x01"


@lru_cache(maxsize=1)
def _master_key(encoded: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(encoded.encode())
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured("MASTER_KEY must be urlsafe base64") from exc
    if len(key) != 32:
        raise ImproperlyConfigured("MASTER_KEY must decode to 32 bytes (AES-256)")
    return key


def master_key() -> bytes:
    return _master_key(settings.MASTER_KEY)


def new_wrapped_data_key(tenant_id: str) -> bytes:
    """A fresh data key for ``tenant_id``, wrapped and ready to store."""
    return wrap(AESGCM.generate_key(bit_length=256), tenant_id)


def wrap(data_key: bytes, tenant_id: str) -> bytes:
    nonce = os.urandom(12)
    aad = b"tenant-data-key:" + str(tenant_id).encode()
    return _WRAP_VERSION + nonce + AESGCM(master_key()).encrypt(nonce, data_key, aad)


def unwrap(wrapped: bytes, tenant_id: str) -> bytes:
    wrapped = bytes(wrapped)
    if not wrapped or wrapped[:1] != _WRAP_VERSION:
        raise ValueError("unknown data key format (the key may have been destroyed)")
    nonce, sealed = wrapped[1:13], wrapped[13:]
    aad = b"tenant-data-key:" + str(tenant_id).encode()
    return AESGCM(master_key()).decrypt(nonce, sealed, aad)
