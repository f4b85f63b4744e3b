"""`make run`'s stack, started for real as a new user would: embedded Redis,
SQLite under a fresh VAR_DIR, gunicorn, uvicorn, the Dramatiq worker and Caddy
on one port. Slow (tens of seconds), so it is one test walking the whole path."""

from __future__ import annotations

import io
import os
import signal
import time

import httpx
import pytest
import soundfile as sf

from deploy.sandbox import live_stack
from tests.conftest import REFERENCE, speech_seconds

AUDIO_MAGIC = (b"RIFF", b"fLaC", b"OggS", b"ID3", b"\xff\xfb", b"\xff\xf3")


@pytest.fixture
def stack(tmp_path):
    with live_stack(tmp_path) as live:
        yield {"base": live.base, "manage": live.manage, "var": live.var, "live": live}


@pytest.mark.stack
def test_make_run_stack_serves_the_whole_flow_and_stops_cleanly(stack):
    base, manage = stack["base"], stack["manage"]
    manage("createtenant", "acme", "--owner", "alice", "--password", "alice-password-1", "--accept-dpa")
    manage("createtenant", "other", "--owner", "bob", "--password", "bob-password-1", "--accept-dpa")
    key = manage("createapikey", "--tenant", "acme").strip().splitlines()[-1]
    other_key = manage("createapikey", "--tenant", "other").strip().splitlines()[-1]
    acme = httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30)
    other = httpx.Client(base_url=base, headers={"Authorization": f"Api-Key {other_key}"}, timeout=30)

    with open(REFERENCE, "rb") as fh:
        voice = acme.post(
            "/api/v1/speakers",
            data={"name": "narrator", "language": "en", "reference_text": "x"},
            files={"audio": ("voice.flac", fh, "audio/flac")},
        )
    assert voice.status_code == 201, voice.text
    voice_id = voice.json()["id"]
    deadline = time.monotonic() + 120
    while (voice_status := acme.get(f"/api/v1/speakers/{voice_id}").json()["status"]) == "PROCESSING":
        assert time.monotonic() < deadline, "the voice's profile was not made within two minutes"
        time.sleep(0.5)
    assert voice_status == "READY"
    task = acme.post(
        "/api/v1/tasks",
        json={"text": "Good morning. The platform speaks these words aloud.", "speaker_id": voice_id, "language": "en"},
    )
    assert task.status_code == 202, task.text
    task_id = task.json()["id"]

    deadline = time.monotonic() + 60
    while (status := acme.get(f"/api/v1/tasks/{task_id}").json()["status"]) not in ("DONE", "FAILED"):
        assert time.monotonic() < deadline, f"task still {status} after a minute"
        time.sleep(0.3)
    assert status == "DONE"
    assert 0 < acme.get(f"/api/v1/tasks/{task_id}").json()["similarity"] <= 1
    audio = acme.get(f"/api/v1/tasks/{task_id}/audio")
    assert audio.status_code == 200
    samples, rate = sf.read(io.BytesIO(audio.content), dtype="float32")
    assert speech_seconds(samples, rate) >= 1.0

    for path in (f"/api/v1/tasks/{task_id}", f"/api/v1/tasks/{task_id}/audio", f"/api/v1/speakers/{voice_id}"):
        response = other.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"

    stored = [p for p in stack["var"].rglob("*") if p.is_file()]
    assert any("storage" in p.parts for p in stored)
    plaintext = [p for p in stored if p.read_bytes()[:4].startswith(AUDIO_MAGIC)]
    assert plaintext == []

    # Refused before the body is read (bad credentials; too large for the API but under
    # the proxy's cap): the client gets our answer, never the proxy's 502.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    refused = [
        httpx.post(f"{base}/api/v1/tasks", content=b"a=" + b"x" * size, headers={**form, **auth}, timeout=30)
        for size, auth in [(5_000_000, {"Authorization": "Bearer nonsense"})] * 8
        + [(10_600_000, {"X-API-Key": key})] * 4
    ]
    assert [r.status_code for r in refused] == [401] * 8 + [413] * 4
    assert refused[-1].json()["error"]["code"] == "PAYLOAD_TOO_LARGE"

    live = stack["live"]
    # A quiet start: no proxy errors while the web servers boot, the banner after the workers
    # are ready (not buried among their start-up lines), nothing written outside var/.
    output = live.log_path.read_text()
    assert "dial unix" not in output
    assert output.index("running at") > output.rindex("is ready for action")
    assert f"Control socket listening at {live.var.resolve()}/run/gunicorn.ctl" in output
    assert "DeprecationWarning" not in output

    os.killpg(live.proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
    assert live.proc.wait(timeout=60) == 0
    assert live.processes() == []  # Redis, workers, supervisord: nothing of the stack is left
