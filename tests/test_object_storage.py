"""Object storage: the streamed envelope, regional buckets on a real S3 server, memory for large
objects, a store that is down, and no plaintext audio in the store or on local disk."""

from __future__ import annotations

import io
import os
import random
import tracemalloc
from pathlib import Path

import pytest
import soundfile as sf
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from synthesis import object_stores, storage
from synthesis.models import Speaker
from tenants import keys
from tests.conftest import REFERENCE, TenantWorld, wait_for_task

pytestmark = pytest.mark.storage

AUDIO_MAGICS = (b"RIFF", b"fLaC", b"OggS", b"ID3")


def _data_key(tenant) -> bytes:
    return keys.unwrap(tenant.wrapped_data_key, str(tenant.id))


def _random_chunks(data: bytes, rng: random.Random) -> list[bytes]:
    chunks, start = [], 0
    while start < len(data):
        size = rng.choice((1, 7, 16, 17, 1000, 65536))
        chunks.append(data[start : start + size])
        start += size
    return chunks


def test_the_streamed_envelope_is_the_one_piece_envelope(tenant_a):
    """Objects sealed whole (as the first version did) unseal in chunks, and chunks seal to
    what one-piece AES-GCM opens: the format did not change."""
    rng = random.Random(7)
    data, name = os.urandom(200_000), "eu/x/results/y.bin"
    one_piece = AESGCM(_data_key(tenant_a.tenant))
    nonce = os.urandom(12)
    sealed_whole = storage.MAGIC + nonce + one_piece.encrypt(nonce, data, name.encode())
    assert b"".join(storage.unsealing(tenant_a.tenant, _random_chunks(sealed_whole, rng), name)) == data

    streamed = b"".join(storage.sealing(tenant_a.tenant, _random_chunks(data, rng), name))
    assert streamed[:4] == storage.MAGIC
    assert one_piece.decrypt(streamed[4:16], streamed[16:], name.encode()) == data
    assert storage.unseal(tenant_a.tenant, storage.seal(tenant_a.tenant, b"", name), name) == b""


@pytest.mark.parametrize("damage", ["flip a ciphertext byte", "flip a tag byte", "cut the tail", "other name"])
def test_an_altered_object_never_comes_out_whole(tenant_a, damage):
    data, name = os.urandom(3 * object_stores.CHUNK + 5), "eu/x/results/y.bin"
    sealed = bytearray(storage.seal(tenant_a.tenant, data, name))
    if damage == "flip a ciphertext byte":
        sealed[len(sealed) // 2] ^= 1
    elif damage == "flip a tag byte":
        sealed[-1] ^= 1
    elif damage == "cut the tail":
        del sealed[-100:]
    else:
        name = "eu/x/results/z.bin"
    chunks = [bytes(sealed[i : i + object_stores.CHUNK]) for i in range(0, len(sealed), object_stores.CHUNK)]
    given = []
    with pytest.raises(storage.StorageError, match="cannot be decrypted"):
        given.extend(storage.unsealing(tenant_a.tenant, chunks, name))
    assert given  # chunks came out as they were read...
    assert sum(map(len, given)) < len(data) - 5  # ...but not the last, held back until the tag checks


@pytest.fixture
def on_s3(object_store, settings, monkeypatch):
    """This test's storage: buckets of the real S3 server, one per region."""
    for name, value in object_store.env.items():
        monkeypatch.setenv(name, value)
    object_stores.reset_clients()
    prefix = os.urandom(4).hex()
    settings.STORAGE_URL = f"s3://sovits/{prefix}/"
    settings.STORAGE_URLS = {"eu": f"s3://sovits-eu/{prefix}/voices/", "us": f"s3://sovits-us/{prefix}/",
                             "cn": f"s3://sovits/{prefix}/cn/"}  # fmt: skip
    yield prefix
    object_stores.reset_clients()


def test_each_region_can_keep_its_objects_in_its_own_bucket(on_s3, object_store, tenant_a):
    tenant_us = TenantWorld("usco", region="us")
    for world in (tenant_a, tenant_us):
        world.ready_voice()
    in_eu = object_store.objects("sovits-eu", f"{on_s3}/voices/")
    in_us = object_store.objects("sovits-us", f"{on_s3}/")
    eu_voice = Speaker.objects.get(tenant=tenant_a.tenant)
    us_voice = Speaker.objects.get(tenant=tenant_us.tenant)
    assert f"{on_s3}/voices/{eu_voice.reference_key.partition('/')[2]}" in in_eu
    assert f"{on_s3}/{us_voice.reference_key.partition('/')[2]}" in in_us
    assert not any(str(tenant_us.tenant.id) in key for key in in_eu)
    assert not any(str(tenant_a.tenant.id) in key for key in in_us)
    reference = REFERENCE.read_bytes()
    for sealed in (*in_eu.values(), *in_us.values()):  # the store sees ciphertext only
        assert sealed.startswith(storage.MAGIC)
        assert reference[5000:6000] not in sealed
    assert storage.get(tenant=tenant_us.tenant, object_key=us_voice.reference_key) == reference


@pytest.mark.parametrize("backend", ["folder", "s3"])
def test_a_large_object_is_never_held_twice(request, tenant_a, backend):
    """A 64 MB object (a tenant's model, an export) goes in and out in chunks: storing it from a
    file holds far less than the object; reading it holds the plaintext once, never beside
    its ciphertext."""
    if backend == "s3":
        request.getfixturevalue("on_s3")
    storage.delete(object_key=storage.put(tenant=tenant_a.tenant, kind="models", data=b"warm"))  # the client's setup
    size = 64 * 1024 * 1024
    source = io.BytesIO(os.urandom(size))
    tracemalloc.start()
    try:
        key = storage.put_file(tenant=tenant_a.tenant, kind="models", file=source)
        _, stored_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        data = storage.get(tenant=tenant_a.tenant, object_key=key)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert data == source.getvalue()
    assert stored_peak < size / 2, stored_peak
    assert read_peak < 1.5 * size, read_peak  # twice would be 128 MB
    assert storage.plain_size(key) == size


def test_a_store_that_does_not_answer_is_a_503_not_a_500(on_s3, tenant_a, client, monkeypatch):
    voice = tenant_a.ready_voice()
    assert client.get("/readyz").json()["checks"]["storage"]["ok"] is True
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    object_stores.reset_clients()
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json()["status"]) == (200, "degraded")  # still serving all but audio
    assert "unreachable" in ready.json()["checks"]["storage"]["error"]
    response = tenant_a.client.get(f"/api/v1/speakers/{voice}/audio")
    assert response.status_code == 503, response.content
    error = response.json()["error"]
    assert (error["code"], error["category"], error["retryable"]) == ("STORAGE_UNAVAILABLE", "SYSTEM", True)
    assert response["Retry-After"]


def test_no_plaintext_audio_in_the_store_or_on_local_disk(tenant_a, worker):
    """Whichever backend this run stores in (TEST_OBJECT_STORE=1: S3): after a voice, a task
    and an export, every stored object is an envelope, and no file anywhere under the run's
    VAR_DIR (the storage folder, the S3 server's volumes, Redis) holds the reference's or
    the result's audio."""
    voice = tenant_a.ready_voice()
    task = wait_for_task(tenant_a.create_task(voice, text="Nothing in clear, anywhere.").json()["id"])
    result = storage.get(tenant=tenant_a.tenant, object_key=task.result_key)
    samples, _ = sf.read(io.BytesIO(result), dtype="int16")
    loudest = int(abs(samples.astype("int32")).argmax())
    needles = [REFERENCE.read_bytes()[20_000:20_256], samples[max(loudest - 64, 0) :][:128].tobytes(), result[:256]]
    objects = list(storage.region_objects(tenant_a.tenant.region))
    assert {task.result_key, Speaker.objects.get(id=voice).reference_key} <= {entry.name for entry in objects}
    for entry in objects:
        sealed = b"".join(storage.read_sealed(entry.name))
        assert sealed.startswith(storage.MAGIC), entry.name
        assert not any(needle in sealed for needle in needles), entry.name
    for path in Path(settings.VAR_DIR).rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 2 * 1024**3:
            content = path.read_bytes()
            assert not any(needle in content for needle in needles), path
            assert not content.startswith(AUDIO_MAGICS), path
