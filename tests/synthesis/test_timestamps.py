"""Word timestamps and subtitles of finished tasks, through the API, from the real worker."""

from __future__ import annotations

import io
import re

import pytest
import soundfile as sf
import srt
import webvtt

from tests.conftest import assert_word_timestamps, wait_for_task

TEN_SENTENCES = " ".join(
    f"Sentence number {n} tells the listener something new, and it keeps going for a while." for n in range(1, 11)
)


@pytest.fixture
def voice(tenant_a):
    return tenant_a.ready_voice()


def _words_of(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def test_a_done_task_has_its_words_timed_and_subtitles_that_parse(tenant_a, tenant_b, voice, worker):
    task_id = tenant_a.create_task(voice, text=TEN_SENTENCES, output_format="flac").json()["id"]
    task = wait_for_task(task_id, timeout=120)
    assert task.status == "DONE", task.error
    assert_word_timestamps(task)

    body = tenant_a.client.get(f"/api/v1/tasks/{task_id}/timestamps").json()
    assert body["duration_seconds"] == task.duration_seconds
    assert [w["word"] for w in body["words"]] == re.findall(r"\w+", TEN_SENTENCES)
    for word in body["words"]:
        assert TEN_SENTENCES[word["text_start"] : word["text_end"]] == word["word"]
    audio = tenant_a.client.get(f"/api/v1/tasks/{task_id}/audio")
    samples, rate = sf.read(io.BytesIO(b"".join(audio.streaming_content) if audio.streaming else audio.content))
    assert body["words"][-1]["end"] <= len(samples) / rate + 1e-3

    srt_response = tenant_a.client.get(f"/api/v1/tasks/{task_id}/subtitles?format=srt")
    assert srt_response.status_code == 200
    assert srt_response["Content-Type"].startswith("application/x-subrip")
    srt_cues = list(srt.parse(srt_response.content.decode()))
    vtt_response = tenant_a.client.get(f"/api/v1/tasks/{task_id}/subtitles?format=vtt")
    assert vtt_response["Content-Type"].startswith("text/vtt")
    vtt_cues = webvtt.from_string(vtt_response.content.decode()).captions
    assert len(srt_cues) == len(vtt_cues) >= 10  # at least a cue per sentence
    previous_end = 0.0
    for cue, caption in zip(srt_cues, vtt_cues, strict=True):
        start, end = cue.start.total_seconds(), cue.end.total_seconds()
        assert previous_end <= start < end <= task.duration_seconds + 1e-3
        assert end - start <= 7.0
        assert len(cue.content) <= 42
        assert caption.start_time.in_milliseconds() == pytest.approx(start * 1000, abs=2)
        assert caption.text == cue.content
        previous_end = end
    assert _words_of(" ".join(c.content for c in srt_cues)) == _words_of(TEN_SENTENCES)

    assert tenant_b.client.get(f"/api/v1/tasks/{task_id}/timestamps").json()["error"]["code"] == "NOT_FOUND"
    bad = tenant_a.client.get(f"/api/v1/tasks/{task_id}/subtitles?format=ass")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "VALIDATION_ERROR")


def test_an_unfinished_task_has_no_timestamps_yet(tenant_a, voice, worker):
    worker.pause()
    task_id = tenant_a.create_task(voice).json()["id"]
    for path in ("timestamps", "subtitles"):
        response = tenant_a.client.get(f"/api/v1/tasks/{task_id}/{path}")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "TASK_NOT_DONE"
