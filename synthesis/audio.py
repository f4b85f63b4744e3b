"""Decoding uploads and encoding results (libsndfile through ``soundfile``)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

# Containers libsndfile decodes that we accept as references.
ACCEPTED_FORMATS = {"WAV", "WAVEX", "FLAC", "OGG", "MP3"}
ACCEPTED_NAMES = ("WAV", "FLAC", "OGG", "MP3")  # as errors name them
ACCEPTED_DESCRIPTION = "WAV, FLAC, Ogg (Vorbis or Opus) or MP3 audio"


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


def header_seconds(data: bytes) -> float:
    """The length the file's header gives (for MP3 an estimate)."""
    info = probe(data)
    return info.frames / info.samplerate


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


# Speech, not just sound. WebRTC's voice-activity detector (the one Resemblyzer trims with)
# hears frames that may be speech, but it takes broadband noise for speech at every setting,
# and steady tones too once they are loud enough. So a frame counts as speech only when the
# detector hears speech in it, its spectrum has the structure of a voice (harmonics, formants:
# white noise's spectral flatness is about 0.56, voiced speech's under 0.1) and that spectrum
# moves (speech changes 5-15 dB from one 30 ms frame to the next, a tone or a beep not at all);
# and the clip must rise and fall in loudness the way syllables do (a hum or a beep holds one
# level; speech spans 20-35 dB). A synthetic buzz shaped like syllables could still pass: this
# refuses sounds that are plainly not a voice; it is no speech recogniser.
VAD_RATE = 16000
_VAD_FRAME = 480  # 30 ms at VAD_RATE, a frame length the detector takes
_VAD_MODE = 3  # the detector's strictest setting
_VAD_LEVEL_DBFS = -15.0  # the detector depends on level: quiet recordings are raised to this first
NOISE_FLATNESS = 0.35
MIN_SPECTRAL_CHANGE_DB = 1.0
MIN_DYNAMICS_DB = 6.0


@dataclass(frozen=True)
class SpeechFound:
    seconds: float  # of frames that sound like speech
    dynamics_db: float  # loudness range, 10th to 95th percentile of 10 ms frames

    @property
    def enough(self) -> bool:
        return self.seconds >= MIN_SPEECH_SECONDS and self.dynamics_db >= MIN_DYNAMICS_DB


def detect_speech(samples: np.ndarray, sample_rate: int) -> SpeechFound:
    import webrtcvad  # imports pkg_resources: loaded when first needed, not with this module

    x = soxr.resample(samples.astype(np.float32), sample_rate, VAD_RATE).astype(np.float64)
    count = len(x) // _VAD_FRAME
    if count == 0:
        return SpeechFound(0.0, 0.0)
    frames = x[: count * _VAD_FRAME].reshape(count, _VAD_FRAME)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    reference = np.percentile(rms, 95)
    if reference <= 0:
        return SpeechFound(0.0, 0.0)
    gain = 10 ** (_VAD_LEVEL_DBFS / 20) / reference
    pcm = (np.clip(frames * gain, -1.0, 1.0) * 32767).astype(np.int16)
    vad = webrtcvad.Vad(_VAD_MODE)
    heard = np.array([vad.is_speech(frame.tobytes(), VAD_RATE) for frame in pcm])
    power = np.abs(np.fft.rfft(frames * np.hanning(_VAD_FRAME), axis=1)) ** 2 + 1e-20
    freqs = np.fft.rfftfreq(_VAD_FRAME, 1 / VAD_RATE)
    band = power[:, (freqs >= 100) & (freqs <= 4000)]
    flatness = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
    # The spectrum's shape (down to 50 dB below its peak), apart from its level: a tone
    # that only swells and fades does not change shape.
    shape = 10 * np.log10(np.maximum(band, band.max(axis=1, keepdims=True) * 1e-5))
    shape -= shape.mean(axis=1, keepdims=True)
    change = np.concatenate([[0.0], np.mean(np.abs(np.diff(shape, axis=0)), axis=1)])
    audible = 20 * np.log10(np.maximum(rms, 1e-10)) > SILENCE_DBFS
    voice_like = heard & audible & (flatness < NOISE_FLATNESS) & (change > MIN_SPECTRAL_CHANGE_DB)
    seconds = float(np.sum(voice_like) * _VAD_FRAME / VAD_RATE)
    step = VAD_RATE // 100
    short = x[: len(x) // step * step].reshape(-1, step)
    levels = 10 * np.log10(np.mean(short**2, axis=1) + 1e-20)
    levels = levels[levels > levels.max() - 60]
    dynamics = float(np.percentile(levels, 95) - np.percentile(levels, 10))
    return SpeechFound(round(seconds, 2), round(dynamics, 1))


def encode_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(samples, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()
