"""What an upload must be to become a voice: speech (not a tone or noise), of an accepted
format, not too long; and the errors that say so, through the API."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from django.core.files.uploadedfile import SimpleUploadedFile

from synthesis.models import Speaker
from tests.conftest import LONG_REFERENCE, REFERENCE, VOICES

RATE = 16000


def flac(samples: np.ndarray, rate: int = RATE, name: str = "voice.flac") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    sf.write(buffer, samples.astype(np.float32), rate, format="FLAC")
    return SimpleUploadedFile(name, buffer.getvalue())


def seconds(n: float) -> np.ndarray:
    return np.arange(int(n * RATE)) / RATE


SOUNDS = {
    "a 440 Hz tone": 0.5 * np.sin(2 * np.pi * 440 * seconds(6)),
    "white noise": np.random.default_rng(0).uniform(-0.3, 0.3, 6 * RATE),
    "beeps": 0.5 * np.sin(2 * np.pi * 440 * seconds(6)) * (seconds(6) % 1.5 < 1.0),
    "a hum with overtones": sum(0.2 / k * np.sin(2 * np.pi * 120 * k * seconds(6)) for k in range(1, 8)),
}


@pytest.mark.parametrize("sound", list(SOUNDS))
def test_a_sound_that_is_not_speech_does_not_become_a_voice(tenant_a, sound):
    response = tenant_a.upload_voice(audio=flac(SOUNDS[sound]))
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "AUDIO_NO_SPEECH"
    assert (error["category"], error["retryable"]) == ("CLIENT", False)
    assert "speech" in error["message"]
    assert {"speech_seconds", "min_speech_seconds", "loudness_range_db"} <= set(error["details"])
    assert not Speaker.objects.exists()


@pytest.mark.parametrize("clip", ["118-121721-0000.flac", "1688-142285-0000.flac", "2033-164914-0001.flac"])
def test_every_fixture_voice_is_speech(tenant_a, clip):
    response = tenant_a.upload_voice(VOICES / clip, name=clip)
    assert response.status_code == 201, response.content


def test_a_quiet_speaker_with_background_noise_is_still_speech(tenant_a):
    speech, rate = sf.read(LONG_REFERENCE, dtype="float32")
    noisy = 0.1 * speech + np.random.default_rng(1).normal(0, 0.002, speech.size)
    response = tenant_a.upload_voice(audio=flac(noisy, rate))
    assert response.status_code == 201, response.content


def test_a_clip_over_thirty_seconds_says_how_long_it_is(tenant_a):
    speech, rate = sf.read(LONG_REFERENCE, dtype="float32")
    long = np.concatenate([speech] * 7)[: 95 * rate]  # decoding stops at 31 s: the header tells the rest
    response = tenant_a.upload_voice(audio=flac(long, rate))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "AUDIO_TOO_LONG"
    assert error["details"]["duration_seconds"] == pytest.approx(95.0, abs=0.1)
    assert error["details"]["max_seconds"] == 30
    assert "95.0 s" in error["message"]
    assert "30 s" in error["message"]


def test_an_undecodable_file_lists_the_formats_accepted(tenant_a):
    fake = SimpleUploadedFile("voice.m4a", b"\x00\x00\x00\x18ftypM4A " + bytes(4000))
    response = tenant_a.upload_voice(audio=fake)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "INVALID_AUDIO"
    assert error["details"]["accepted_formats"] == ["WAV", "FLAC", "OGG", "MP3"]
    for name in ("WAV", "FLAC", "Ogg", "MP3"):
        assert name in error["message"]


def test_the_plain_reference_is_still_accepted(tenant_a):
    assert tenant_a.upload_voice(REFERENCE).status_code == 201
