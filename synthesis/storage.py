"""Encrypted object storage for audio (references and results).

Every object is sealed with AES-256-GCM under its tenant's data key before it
is written, and the object's key is bound in as associated data, so a file
copied to another name or tenant fails to decrypt instead of leaking. Writes go
to a temporary name and are renamed into place, so a reader never sees half a file.

Object keys start with the tenant's region, which picks the storage root:
``eu/<tenant id>/<kind>/<object id>.bin`` lives at
``<STORAGE_ROOTS["eu"]>/<tenant id>/<kind>/<object id>.bin``. Binding the region
into the key (and so into the associated data) means a file moved to another
region's root does not decrypt either.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from tenants import keys
from tenants.models import Tenant

MAGIC = b"SVE1"  # sovits envelope, version 1


class StorageError(Exception):
    pass


def _path(object_key: str) -> Path:
    region, _, rest = object_key.partition("/")
    if region in settings.KNOWN_REGIONS:
        try:
            root = settings.STORAGE_ROOTS[region]
        except KeyError:
            raise StorageError(f"region {region!r} is not served by this deployment (REGIONS)") from None
    else:  # keys written before regions existed: <tenant id>/<kind>/<object id>.bin
        root, rest = settings.STORAGE_ROOT, object_key
    path = (Path(root) / rest).resolve()
    if Path(root).resolve() not in path.parents:
        raise StorageError(f"object key escapes the storage root: {object_key!r}")
    return path


def tenant_root(tenant: Tenant) -> Path:
    """The folder holding every file of ``tenant``."""
    return Path(settings.STORAGE_ROOTS[tenant.region]) / str(tenant.id)


def region_files(region: str):
    """(object key, path) of every file under ``region``'s storage root."""
    root = Path(settings.STORAGE_ROOTS[region])
    if root.exists():
        for path in root.rglob("*"):
            if path.is_file():
                yield f"{region}/{path.relative_to(root).as_posix()}", path


def _aead(tenant: Tenant) -> AESGCM:
    return AESGCM(keys.unwrap(tenant.wrapped_data_key, str(tenant.id)))


def seal(tenant: Tenant, data: bytes, associated: str) -> bytes:
    """``data`` sealed under the tenant's key, bound to ``associated`` (the object's name)."""
    nonce = os.urandom(12)
    return MAGIC + nonce + _aead(tenant).encrypt(nonce, data, associated.encode())


def unseal(tenant: Tenant, sealed: bytes, associated: str) -> bytes:
    if sealed[:4] != MAGIC:
        raise StorageError(f"{associated!r} is not in a known format")
    nonce, ciphertext = sealed[4:16], sealed[16:]
    try:
        return _aead(tenant).decrypt(nonce, ciphertext, associated.encode())
    except (InvalidTag, ValueError) as exc:
        raise StorageError(f"{associated!r} cannot be decrypted") from exc


def put(*, tenant: Tenant, kind: str, data: bytes) -> str:
    """Encrypt and store ``data``; returns the new object's key."""
    object_key = f"{tenant.region}/{tenant.id}/{kind}/{uuid.uuid4().hex}.bin"
    sealed = seal(tenant, data, object_key)
    path = _path(object_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        fh.write(sealed)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return object_key


def get(*, tenant: Tenant, object_key: str) -> bytes:
    try:
        sealed = _path(object_key).read_bytes()
    except FileNotFoundError as exc:
        raise StorageError(f"object {object_key!r} is missing") from exc
    return unseal(tenant, sealed, object_key)


def delete(*, object_key: str) -> None:
    _path(object_key).unlink(missing_ok=True)
