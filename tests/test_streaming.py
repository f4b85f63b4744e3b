"""Audio streamed while it is made, through `make run`'s real stack (Caddy, uvicorn, gunicorn,
the worker, embedded Redis): every entry point, late clients, clients that leave, many at once."""

from __future__ import annotations

import base64
import io
import json
import threading
import time

import httpx
import pytest
import redis
import soundfile as sf

from synthesis import live_audio
from tests.conftest import LONG_REFERENCE

pytestmark = pytest.mark.stack

TEN_SENTENCES = " ".join(
    f"This is sentence number {n}, and it carries a few more words to speak." for n in range(1, 11)
)


@pytest.fixture(scope="module")
def stack(shared_stack):
    """The run's shared stack (tests/conftest.py), with this module's tenant and its voice."""
    live = shared_stack
    live.manage("createtenant", "newsroom", "--owner", "sam", "--password", "sam-password-1", "--accept-dpa")
    key = live.manage("createapikey", "--tenant", "newsroom").strip().splitlines()[-1]
    client = httpx.Client(base_url=live.base, headers={"X-API-Key": key}, timeout=60)
    with open(LONG_REFERENCE, "rb") as fh:
        voice = client.post("/api/v1/speakers", data={"name": "narrator", "language": "en"},
                            files={"audio": ("v.flac", fh, "audio/flac")}).json()["id"]  # fmt: skip
    deadline = time.monotonic() + 180
    while client.get(f"/api/v1/speakers/{voice}").json()["status"] == "PROCESSING":
        assert time.monotonic() < deadline, "the voice was not ready within three minutes"
        time.sleep(0.5)
    return {"live": live, "client": client, "key": key, "voice": voice}


def _task(stack, text=TEN_SENTENCES, **fields) -> str:
    response = stack["client"].post("/api/v1/tasks", json={"text": text, "speaker_id": stack["voice"],
                                                           "language": "en", **fields})  # fmt: skip
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _status(stack, task_id) -> str:
    return stack["client"].get(f"/api/v1/tasks/{task_id}").json()["status"]


def _wait_done(stack, task_id) -> dict:
    deadline = time.monotonic() + 120
    while (task := stack["client"].get(f"/api/v1/tasks/{task_id}").json())["status"] not in ("DONE", "FAILED",
                                                                                            "CANCELLED"):  # fmt: skip
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return task


def _stored(stack, task_id):
    audio = stack["client"].get(f"/api/v1/tasks/{task_id}/audio")
    assert audio.status_code == 200
    return sf.read(io.BytesIO(audio.content), dtype="int16")


def _read(response, on_first_audio) -> bytes:
    """The whole body; ``on_first_audio()`` is called as the first bytes past a WAV header arrive."""
    body = b""
    for chunk in response.iter_bytes():
        first = len(body) <= 44 < len(body) + len(chunk)
        body += chunk
        if first:
            on_first_audio()
    return body


def _same_speech(stack, task_id, streamed: bytes) -> None:
    """The stream decodes to the stored result: the same samples, so the same duration."""
    samples, rate = sf.read(io.BytesIO(streamed), dtype="int16")
    stored, stored_rate = _stored(stack, task_id)
    assert rate == stored_rate
    assert len(samples) == pytest.approx(len(stored), rel=0.01)
    assert (samples == stored).all()


def test_a_task_streams_before_it_is_done_and_a_late_client_gets_it_all(stack):
    task_id = _task(stack)
    seen = {}
    with httpx.stream("GET", f"{stack['live'].base}/api/v1/tasks/{task_id}/stream",
                      headers={"X-API-Key": stack["key"]}, timeout=120) as response:  # fmt: skip
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/wav"
        body = _read(response, lambda: seen.setdefault("status", _status(stack, task_id)))
    assert seen["status"] in ("PENDING", "PROCESSING"), "the first audio came only once the task was done"
    assert _wait_done(stack, task_id)["status"] == "DONE"
    _same_speech(stack, task_id, body)

    late = httpx.get(f"{stack['live'].base}/api/v1/tasks/{task_id}/stream", headers={"X-API-Key": stack["key"]})
    assert late.status_code == 200
    _same_speech(stack, task_id, late.content)  # replayed from the live stream, or the stored result

    # A client that comes in midway still gets the audio from its start.
    task_id = _task(stack)
    deadline = time.monotonic() + 60
    while stack["client"].get(f"/api/v1/tasks/{task_id}").json()["progress"] < 30:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    midway = httpx.get(f"{stack['live'].base}/api/v1/tasks/{task_id}/stream", headers={"X-API-Key": stack["key"]},
                       timeout=120)  # fmt: skip
    _same_speech(stack, task_id, midway.content)

    # Once the live stream has expired, the stored result answers.
    redis.Redis(unix_socket_path=str(stack["live"].var / "redis.sock")).delete(f"sovits-audio:{task_id}")
    expired = httpx.get(f"{stack['live'].base}/api/v1/tasks/{task_id}/stream", headers={"X-API-Key": stack["key"]})
    assert expired.content == stack["client"].get(f"/api/v1/tasks/{task_id}/audio").content


def _newest_task(stack) -> str:
    return stack["client"].get("/api/v1/tasks", params={"limit": 1}).json()["results"][0]["id"]


@pytest.mark.parametrize("how", ["get", "post"])
def test_tts_streaming_mode_streams_wav(stack, how):
    params = {"text": TEN_SENTENCES, "text_lang": "en", "ref_audio_path": stack["voice"], "media_type": "wav",
              "streaming_mode": "true" if how == "get" else 1}  # fmt: skip
    seen = {}
    request = {"params": params} if how == "get" else {"json": params}
    with httpx.stream(how.upper(), f"{stack['live'].base}/tts", headers={"X-API-Key": stack["key"]}, timeout=120,
                      **request) as response:  # fmt: skip
        assert response.status_code == 200, response.read()
        body = _read(response, lambda: seen.setdefault("status", _status(stack, _newest_task(stack))))
    task_id = _newest_task(stack)
    assert seen["status"] in ("PENDING", "PROCESSING")
    _same_speech(stack, task_id, body)


def test_the_openai_client_streams_and_sse_carries_audio_and_words(stack):
    from openai import OpenAI

    client = OpenAI(base_url=f"{stack['live'].base}/v1", api_key=stack["key"], max_retries=0)
    seen = {}
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice=stack["voice"], input=TEN_SENTENCES, response_format="wav"
    ) as response:
        body = b""
        for chunk in response.iter_bytes():
            if len(body) <= 44 < len(body) + len(chunk):
                seen["status"] = _status(stack, _newest_task(stack))
            body += chunk
    assert seen["status"] in ("PENDING", "PROCESSING")
    _same_speech(stack, _newest_task(stack), body)

    events = []
    with httpx.stream("POST", f"{stack['live'].base}/v1/audio/speech", timeout=120,
                      headers={"Authorization": f"Bearer {stack['key']}"},
                      json={"model": "tts-1", "voice": stack["voice"], "input": TEN_SENTENCES,
                            "response_format": "wav", "stream_format": "sse",
                            "timestamp_granularities": ["word"]}) as response:  # fmt: skip
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    kinds = [event["type"] for event in events]
    assert kinds[-1] == "speech.audio.done"
    assert events[-1]["usage"]["input_tokens"] == len(TEN_SENTENCES)
    audio = b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta")
    _same_speech(stack, _newest_task(stack), audio)
    words = [w["word"] for e in events if e["type"] == "speech.audio.timestamps" for w in e["words"]]
    assert words == TEN_SENTENCES.replace(",", "").replace(".", "").split()


def _readers(stack) -> int:
    """Redis connections held by stream readers (they name themselves)."""
    clients = redis.Redis(unix_socket_path=str(stack["live"].var / "redis.sock")).client_list()
    return sum(client["name"] == live_audio.READER_NAME for client in clients)


def test_a_client_that_leaves_midway_leaves_nothing_behind(stack):
    task_id = _task(stack)
    with httpx.stream("GET", f"{stack['live'].base}/api/v1/tasks/{task_id}/stream",
                      headers={"X-API-Key": stack["key"]}, timeout=120) as response:  # fmt: skip
        chunks = response.iter_bytes()
        next(chunks)
        assert _readers(stack) == 1  # the stream's reader, while its client listens
    assert _wait_done(stack, task_id)["status"] == "DONE"
    deadline = time.monotonic() + 10
    while _readers(stack) > 0:  # the reader's connection is closed with it
        assert time.monotonic() < deadline, "a stream's Redis connection outlived its client"
        time.sleep(0.2)


def test_a_task_cancelled_midway_cuts_its_stream_short(stack):
    task_id = _task(stack)
    with httpx.stream("GET", f"{stack['live'].base}/api/v1/tasks/{task_id}/stream",
                      headers={"X-API-Key": stack["key"]}, timeout=120) as response:  # fmt: skip
        chunks = response.iter_bytes()
        next(chunks)
        stack["client"].post(f"/api/v1/tasks/{task_id}/cancel")
        with pytest.raises(httpx.RemoteProtocolError):  # no final chunk: the client knows it is not whole
            for _ in chunks:
                pass
    assert _wait_done(stack, task_id)["status"] == "CANCELLED"


def test_twenty_streams_at_once_while_the_api_keeps_answering(stack):
    tasks = [_task(stack, text=TEN_SENTENCES[:400]) for _ in range(4)]
    bodies: dict[int, bytes] = {}

    def listen(index: int) -> None:
        with httpx.stream("GET", f"{stack['live'].base}/api/v1/tasks/{tasks[index % 4]}/stream",
                          headers={"X-API-Key": stack["key"]}, timeout=180) as response:  # fmt: skip
            bodies[index] = response.read()

    threads = [threading.Thread(target=listen, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    answers = []
    while any(thread.is_alive() for thread in threads):
        answers.append(stack["client"].get(f"/api/v1/tasks/{tasks[0]}").status_code)
    for thread in threads:
        thread.join()
    assert len(bodies) == 20
    assert len(answers) >= 5
    assert set(answers) == {200}
    for index, body in bodies.items():
        _same_speech(stack, tasks[index % 4], body)
