"""Finished audio: encoding to the asked format and rate, and signed, expiring result URLs."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf
import soxr
from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.text import slugify

from synthesis.models import OutputFormat, Task

MEDIA_TYPES = {
    OutputFormat.WAV: "audio/wav",
    OutputFormat.FLAC: "audio/flac",
    OutputFormat.OGG: "audio/ogg",
    OutputFormat.MP3: "audio/mpeg",
}
_SOUNDFILE = {
    OutputFormat.WAV: ("WAV", "PCM_16"),
    OutputFormat.FLAC: ("FLAC", "PCM_16"),
    OutputFormat.OGG: ("OGG", "OPUS"),
    OutputFormat.MP3: ("MP3", "MPEG_LAYER_III"),
}
SAMPLE_RATES = (8000, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
# Opus runs at these rates only.
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_SALT = "synthesis.result-url"


def output_rate(rate: int, *, output_format: str, sample_rate: int | None) -> int:
    """The rate a result is delivered at: the one asked for, else the engine's (Opus: the
    nearest rate it runs at, upwards)."""
    target = sample_rate or rate
    if output_format == OutputFormat.OGG and target not in OPUS_RATES:
        target = min(OPUS_RATES, key=lambda r: abs(r - target) if r >= target else 10**9)
    return target


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] as 16-bit PCM (what is streamed, and what results are made of)."""
    return np.round(np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")


def encode(samples: np.ndarray, rate: int, *, output_format: str, sample_rate: int | None) -> tuple[bytes, int]:
    """The audio in the container and rate asked for (libsndfile encodes; soxr resamples)."""
    target = output_rate(rate, output_format=output_format, sample_rate=sample_rate)
    if target != rate:
        samples = soxr.resample(samples.astype(np.float32), rate, target)
    return encode_pcm(to_pcm16(samples), target, output_format=output_format), target


def encode_pcm(pcm: np.ndarray, rate: int, *, output_format: str) -> bytes:
    """16-bit samples in the container asked for, at their own rate."""
    container, subtype = _SOUNDFILE[OutputFormat(output_format)]
    buffer = io.BytesIO()
    sf.write(buffer, pcm, rate, format=container, subtype=subtype)
    return buffer.getvalue()


def extension(output_format: str) -> str:
    return str(OutputFormat(output_format).value)


def download_name(task: Task) -> str:
    """What a saved result is called: the voice and when the task was made (UTC), e.g.
    ``narrator-2026-12-02-1403.wav``, so a folder of downloads sorts and reads by itself."""
    voice = slugify(task.speaker.name, allow_unicode=True) or "speech"
    return f"{voice}-{task.created_at:%Y-%m-%d-%H%M}.{extension(task.output_format)}"


def public_base_url(request=None) -> str:
    """Where clients reach this deployment: ``PUBLIC_BASE_URL`` when set (the one name behind
    a proxy or load balancer), else the host the request came to, else (a worker sending a
    webhook has no request) the address ``make run`` serves on."""
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL.rstrip("/")
    if request is not None:
        return f"{request.scheme}://{request.get_host()}"
    return settings.LOCAL_BASE_URL


def signed_result_url(task: Task, request=None) -> str:
    """An absolute URL that serves the task's audio without credentials until it expires:
    the same form in every answer, list, batch, live event and webhook."""
    token = signing.dumps(str(task.id), salt=_SALT, compress=True)
    return public_base_url(request) + reverse("result-download", kwargs={"token": token})


def task_id_from_token(token: str) -> str:
    """Raises signing.SignatureExpired or signing.BadSignature."""
    return signing.loads(token, salt=_SALT, max_age=settings.RESULT_URL_TTL_SECONDS)
