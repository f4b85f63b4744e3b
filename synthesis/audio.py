"""Decoding uploads and encoding results (libsndfile through ``soundfile``)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf

# Containers libsndfile decodes that we accept as references.
ACCEPTED_FORMATS = {"WAV", "WAVEX", "FLAC", "OGG", "MP3"}


class AudioDecodeError(ValueError):
    pass


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    format: str

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


_EXTENSIONS = {"wav": {"WAV", "WAVEX"}, "wave": {"WAV", "WAVEX"}, "flac": {"FLAC"}, "ogg": {"OGG"}, "oga": {"OGG"},
               "opus": {"OGG"}, "mp3": {"MP3"}}  # fmt: skip


_MEDIA_FORMATS = {"audio/wav": {"WAV", "WAVEX"}, "audio/x-wav": {"WAV", "WAVEX"}, "audio/wave": {"WAV", "WAVEX"},
                  "audio/flac": {"FLAC"}, "audio/x-flac": {"FLAC"}, "audio/ogg": {"OGG"}, "audio/opus": {"OGG"},
                  "audio/mpeg": {"MP3"}, "audio/mp3": {"MP3"}}  # fmt: skip


def check_declared_format(data: bytes, *, filename: str, content_type: str | None) -> None:
    """What the upload says it is (its name's extension, its part's Content-Type) must be
    what it holds: a mismatch is refused rather than guessed around."""
    actual = probe(data).format
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension in _EXTENSIONS and actual not in _EXTENSIONS[extension]:
        raise AudioDecodeError(f"the file is named .{extension} but holds {actual} audio")
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared in _MEDIA_FORMATS and actual not in _MEDIA_FORMATS[declared]:
        raise AudioDecodeError(f"the upload is declared {declared} but holds {actual} audio")


def probe(data: bytes) -> sf._SoundFileInfo:
    """Read only the header: format, rate, channels and length."""
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioDecodeError("not a readable audio file") from exc
    if info.format not in ACCEPTED_FORMATS:
        raise AudioDecodeError(f"unsupported audio format {info.format}")
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioDecodeError("audio header is invalid")
    return info


_MEDIA_TYPES = {"WAV": "audio/wav", "WAVEX": "audio/wav", "FLAC": "audio/flac", "OGG": "audio/ogg", "MP3": "audio/mpeg"}


def media_type(data: bytes) -> str:
    try:
        return _MEDIA_TYPES[probe(data).format]
    except (AudioDecodeError, KeyError):
        return "application/octet-stream"


def decode(data: bytes, *, max_seconds: float) -> DecodedAudio:
    """Decode to mono float32, refusing to decode more than ``max_seconds`` (plus slack) of audio."""
    info = probe(data)
    # Headers can lie (and MP3 lengths are estimates): cap what is decoded by
    # duration x rate instead of trusting the frame count.
    max_frames = int((max_seconds + 1.0) * info.samplerate)
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True, frames=max_frames + 1)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioDecodeError("the audio data is corrupt") from exc
    if samples.size == 0:
        raise AudioDecodeError("the file holds no audio")
    # The header's length must match what the data holds (MP3 lengths are estimates).
    tolerance = max(0.02 * info.frames, info.samplerate * 0.05)
    if (
        info.format in ("WAV", "WAVEX", "FLAC")
        and info.frames <= max_frames
        and abs(len(samples) - info.frames) > tolerance
    ):
        raise AudioDecodeError("the header's length does not match the audio data")
    mono = samples.mean(axis=1).astype(np.float32)
    if not np.all(np.isfinite(mono)):
        raise AudioDecodeError("the audio holds invalid samples")
    return DecodedAudio(samples=mono, sample_rate=int(rate), format=info.format)


# A reference with less voiced speech than this cannot give a voice profile.
MIN_SPEECH_SECONDS = 1.0
SILENCE_DBFS = -45.0
# Samples at (or a hair under) full scale; more than this share means clipping.
CLIP_LEVEL = 0.999
MAX_CLIPPED_FRACTION = 0.002


def speech_seconds(samples: np.ndarray, sample_rate: int, *, threshold_dbfs: float = SILENCE_DBFS) -> float:
    """Seconds of 20 ms frames louder than ``threshold_dbfs``."""
    frame = int(0.02 * sample_rate)
    n = len(samples) // frame
    if n == 0:
        return 0.0
    rms = np.sqrt(np.mean(samples[: n * frame].astype(np.float64).reshape(n, frame) ** 2, axis=1))
    return float(np.sum(20 * np.log10(np.maximum(rms, 1e-10)) > threshold_dbfs) * frame / sample_rate)


def clipped_fraction(samples: np.ndarray) -> float:
    return float(np.mean(np.abs(samples) >= CLIP_LEVEL))


def encode_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(samples, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()
