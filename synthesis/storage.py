"""Encrypted object storage for audio, voice profiles, tenants' models and exports.

Every object is sealed with AES-256-GCM under its tenant's data key before it
leaves the process, and the object's key is bound in as associated data, so an
object copied to another name or tenant fails to decrypt instead of leaking. The
store (a local folder or an S3 bucket, ``synthesis.object_stores``) only ever
sees ciphertext. Sealing and unsealing stream in chunks, so a large object is
never held twice; unsealing holds back its last chunk until the tag is checked,
so nothing altered is handed on whole.

Object keys start with the tenant's region, which picks the store:
``eu/<tenant id>/<kind>/<object id>.bin`` is the object ``<tenant id>/<kind>/<object id>.bin``
of ``STORAGE_URLS["eu"]``. Binding the region into the key (and so into the
associated data) means an object moved to another region's store does not
decrypt either.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings

from synthesis import object_stores
from synthesis.object_stores import CHUNK, Entry
from tenants import keys
from tenants.models import Tenant

MAGIC = b"SVE1"  # sovits envelope, version 1: MAGIC, 12-byte nonce, ciphertext, 16-byte tag
_HEADER = len(MAGIC) + 12
_TAG = 16


class StorageError(Exception):
    pass


def store(region: str | None):
    """The store holding ``region``'s objects; None: the store of keys written before regions."""
    if region is None:
        return object_stores.open_store(settings.STORAGE_URL)
    try:
        return object_stores.open_store(settings.STORAGE_URLS[region])
    except KeyError:
        raise StorageError(f"region {region!r} is not served by this deployment (REGIONS)") from None


def locate(object_key: str) -> tuple[object_stores.LocalStore | object_stores.S3Store, str]:
    """The store and the name in it of ``object_key``."""
    region, _, rest = object_key.partition("/")
    if region in settings.KNOWN_REGIONS:
        return store(region), rest
    return store(None), object_key  # keys written before regions existed: <tenant id>/<kind>/<id>.bin


def _key(tenant: Tenant) -> bytes:
    return keys.unwrap(tenant.wrapped_data_key, str(tenant.id))


def sealing(tenant: Tenant, chunks: Iterable[bytes], associated: str) -> Iterator[bytes]:
    """The envelope of ``chunks``, chunk by chunk: the same bytes ``seal`` gives for their join."""
    nonce = os.urandom(12)
    encryptor = Cipher(algorithms.AES(_key(tenant)), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(associated.encode())
    yield MAGIC + nonce
    for chunk in chunks:
        if chunk:
            yield encryptor.update(chunk)
    yield encryptor.finalize() + encryptor.tag


def unsealing(tenant: Tenant, sealed: Iterable[bytes], associated: str) -> Iterator[bytes]:
    """The plaintext of an envelope read in chunks. The last plaintext chunk is only given
    once the tag checks out, so an altered or cut object never comes out whole."""
    decryptor, held, pending = None, b"", None
    for chunk in sealed:
        held += chunk
        if decryptor is None:
            if len(held) < _HEADER:
                continue
            if held[:4] != MAGIC:
                raise StorageError(f"{associated!r} is not in a known format")
            try:
                decryptor = Cipher(algorithms.AES(_key(tenant)), modes.GCM(held[4:_HEADER])).decryptor()
            except (InvalidTag, ValueError) as exc:  # the tenant's data key is gone or not its own
                raise StorageError(f"{associated!r} cannot be decrypted") from exc
            decryptor.authenticate_additional_data(associated.encode())
            held = held[_HEADER:]
        if len(held) > _TAG:
            plain = decryptor.update(held[:-_TAG])
            held = held[-_TAG:]
            if pending is not None:
                yield pending
            pending = plain
    if decryptor is None:
        raise StorageError(f"{associated!r} is not in a known format")
    try:
        last = decryptor.finalize_with_tag(held)
    except (InvalidTag, ValueError) as exc:
        raise StorageError(f"{associated!r} cannot be decrypted") from exc
    if pending is not None:
        yield pending
    if last:
        yield last


def seal(tenant: Tenant, data: bytes, associated: str) -> bytes:
    """``data`` sealed under the tenant's key, bound to ``associated`` (the object's name)."""
    return b"".join(sealing(tenant, [data], associated))


def unseal(tenant: Tenant, sealed: bytes, associated: str) -> bytes:
    return b"".join(unsealing(tenant, [sealed], associated))


def _slices(data: bytes | memoryview) -> Iterator[memoryview]:
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        yield view[start : start + CHUNK]


def _new_key(tenant: Tenant, kind: str) -> str:
    return f"{tenant.region}/{tenant.id}/{kind}/{uuid.uuid4().hex}.bin"


def put(*, tenant: Tenant, kind: str, data: bytes) -> str:
    """Encrypt and store ``data``; returns the new object's key."""
    return put_stream(tenant=tenant, kind=kind, chunks=_slices(data))


def put_file(*, tenant: Tenant, kind: str, file: BinaryIO) -> str:
    """Encrypt and store what ``file`` holds from its start, read a chunk at a time."""
    file.seek(0)
    return put_stream(tenant=tenant, kind=kind, chunks=iter(lambda: file.read(CHUNK), b""))


def put_stream(*, tenant: Tenant, kind: str, chunks: Iterable[bytes]) -> str:
    object_key = _new_key(tenant, kind)
    where, name = locate(object_key)
    try:
        where.write(name, sealing(tenant, chunks, object_key))
    except object_stores.StoreError as exc:
        raise StorageError(f"object {object_key!r} could not be written: {exc}") from exc
    return object_key


def read(*, tenant: Tenant, object_key: str) -> Iterator[bytes]:
    """The plaintext of an object, a chunk at a time (see ``unsealing`` for when it is checked);
    a missing object raises at once."""
    return unsealing(tenant, read_sealed(object_key), object_key)


def plain_size(object_key: str) -> int | None:
    """The plaintext size of a stored object (its stored size less the envelope), None if missing."""
    entry = stat(object_key)
    return None if entry is None else entry.size - _HEADER - _TAG


def get(*, tenant: Tenant, object_key: str) -> bytes:
    buffer = io.BytesIO()
    get_into(tenant=tenant, object_key=object_key, file=buffer)
    return buffer.getvalue()  # shares BytesIO's buffer: the plaintext is held once


def get_into(*, tenant: Tenant, object_key: str, file: BinaryIO) -> int:
    """Write an object's plaintext into ``file``; its size. Nothing of it may be trusted if this raises."""
    size = 0
    for chunk in read(tenant=tenant, object_key=object_key):
        file.write(chunk)
        size += len(chunk)
    return size


def read_sealed(object_key: str) -> Iterator[bytes]:
    """An object's stored (sealed) bytes, a chunk at a time; a missing object raises here, at once."""
    where, name = locate(object_key)
    try:
        return where.read(name)
    except object_stores.NotFound:
        raise StorageError(f"object {object_key!r} is missing") from None


def write_sealed(object_key: str, chunks: Iterable[bytes]) -> int:
    """Store already sealed bytes under ``object_key`` (copies, restores); their size."""
    where, name = locate(object_key)
    return where.write(name, chunks)


def stat(object_key: str) -> Entry | None:
    where, name = locate(object_key)
    return where.stat(name)


def exists(object_key: str) -> bool:
    return stat(object_key) is not None


def delete(*, object_key: str) -> None:
    where, name = locate(object_key)
    where.delete(name)


def delete_tenant(tenant: Tenant) -> None:
    """Every object of ``tenant`` in its region's store."""
    store(tenant.region).delete_prefix(f"{tenant.id}/")


def region_objects(region: str) -> Iterator[Entry]:
    """Every object in ``region``'s store, named by its object key."""
    for entry in store(region).list():
        yield Entry(f"{region}/{entry.name}", entry.size, entry.modified)
