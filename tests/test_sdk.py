"""The SDK against the real service (live server, real worker and engine)."""

from __future__ import annotations

import asyncio
import io

import pytest
import soundfile as sf
from sovits_client import AsyncClient, Client, NotFound, ValidationError

from tests.conftest import REFERENCE, speech_seconds


@pytest.fixture
def api(tenant_a, live_server, worker):
    with Client(live_server.url, tenant_a.key, timeout=60) as client:
        yield client


def test_voices_tasks_and_download_through_the_sdk(api, tenant_a):
    voice = api.create_voice("SDK voice", REFERENCE, language="en")
    assert voice["status"] == "PROCESSING"
    assert api.wait_for_voice(voice["id"])["status"] == "READY"
    assert [v["id"] for v in api.list_voices()] == [voice["id"]]

    audio = api.synthesize("Spoken through the Python client.", voice["id"], output_format="flac")
    samples, rate = sf.read(io.BytesIO(audio), dtype="float32")
    assert sf.info(io.BytesIO(audio)).format == "FLAC"
    assert speech_seconds(samples, rate) > 1.0

    task = api.create_task("Live waiting over the socket.", voice["id"], idempotency_key="sdk-1")
    assert api.create_task("Live waiting over the socket.", voice["id"], idempotency_key="sdk-1")["id"] == task["id"]
    assert api.wait(task["id"], timeout=60)["status"] == "DONE"
    assert {t["id"] for t in api.list_tasks(status="DONE")} >= {task["id"]}

    batch = api.batch_synthesize([{"text": f"Batch line {i}.", "speaker_id": voice["id"]} for i in range(3)])
    for item in batch["tasks"]:
        api.wait(item["id"], timeout=60)
    assert api.get_batch(batch["id"])["status"] == "DONE"

    with pytest.raises(ValidationError) as caught:
        api.create_task("", voice["id"])
    assert caught.value.details["fields"]["text"]
    api.delete_voice(voice["id"])
    with pytest.raises(NotFound):
        api.get_voice(voice["id"])


def test_the_async_client_against_the_service(tenant_a, live_server, worker):
    voice_id = tenant_a.ready_voice()

    async def scenario():
        async with AsyncClient(live_server.url, tenant_a.key, timeout=60) as api:
            return await api.synthesize("Asynchronous speech.", voice_id)

    audio = asyncio.run(scenario())
    assert audio[:4] == b"RIFF"
