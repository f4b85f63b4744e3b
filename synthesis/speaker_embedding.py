"""Speaker embeddings (Resemblyzer's d-vector encoder; its wheel carries the weights).

Used to choose the eSpeak variant closest to a voice, and to score every result:
``similarity`` is the cosine between the output's embedding and the reference's.
"""

from __future__ import annotations

import functools
import threading

import numpy as np
import soxr

EMBEDDING_RATE = 16000
_encoder = None
_lock = threading.Lock()


def _get_encoder():
    global _encoder
    with _lock:
        if _encoder is None:
            from resemblyzer import VoiceEncoder

            _encoder = VoiceEncoder(device="cpu", verbose=False)
        return _encoder


_thread = threading.local()


def _one_torch_thread() -> None:
    """Workers run one engine call per thread; letting torch spread each call over every core
    as well would oversubscribe the CPU. OpenMP keeps that setting per calling thread: a thread
    that did not set it (when another thread loaded the encoder, such as the warm-up) ran its
    inference on every core, with spinning OpenMP threads, several times slower under load."""
    if not getattr(_thread, "one_torch_thread", False):
        import torch

        torch.set_num_threads(1)
        _thread.one_torch_thread = True


# Scoring a result: partials side by side instead of overlapping by half (Resemblyzer's
# lowest rate) and only whole ones, over at most the middle 6.4 s, and no voice-activity
# trimming (our own output has no long silences to cut). A third of the full embedding's
# cost on a one-sentence result, and a bounded cost on a long one.
_SCORING_RATE = 1 / 1.6
_SCORING_MAX_SECONDS = 6.4


def embed(samples: np.ndarray, sample_rate: int, *, for_scoring: bool = False) -> np.ndarray:
    """A unit-length 256-d embedding of the voice in ``samples``: Resemblyzer's own, or with
    ``for_scoring`` its cheaper form for scoring results (see above)."""
    from resemblyzer import preprocess_wav
    from resemblyzer.audio import normalize_volume
    from resemblyzer.hparams import audio_norm_target_dBFS

    wav = samples.astype(np.float32)
    if for_scoring and wav.size > _SCORING_MAX_SECONDS * sample_rate:
        middle, half = wav.size // 2, int(_SCORING_MAX_SECONDS * sample_rate) // 2
        wav = wav[middle - half : middle + half]
    if sample_rate != EMBEDDING_RATE:
        wav = soxr.resample(wav, sample_rate, EMBEDDING_RATE).astype(np.float32)
    # Scoring: no voice-activity trimming (see above), only the library's loudness normalisation.
    wav = normalize_volume(wav, audio_norm_target_dBFS, increase_only=True) if for_scoring else preprocess_wav(wav)
    if wav.size < EMBEDDING_RATE // 4:
        raise ValueError("too little speech to embed")
    if for_scoring:  # whole partials only: a 3 s result is scored on one
        return _embed_utterance(_get_encoder(), wav, rate=_SCORING_RATE, min_coverage=1.0)
    return _embed_utterance(_get_encoder(), wav, rate=1.3, min_coverage=0.75)


def warm() -> None:
    """Load the network (torch and its weights) and librosa, and run them once: the first
    embedding in a process otherwise takes several seconds more than the next."""
    noise = np.random.default_rng(0).normal(0.0, 0.1, EMBEDDING_RATE * 2).astype(np.float32)
    embed(noise, EMBEDDING_RATE, for_scoring=True)
    embed(noise, EMBEDDING_RATE)


def similarity(samples: np.ndarray, sample_rate: int, reference: np.ndarray) -> float | None:
    """A result's similarity to its voice's reference embedding (None: too short to tell)."""
    try:
        output = embed(samples, sample_rate, for_scoring=True)
    except ValueError:  # a one-word text
        return None
    return round(cosine(output, reference), 4)


def _embed_utterance(encoder, wav: np.ndarray, *, rate: float, min_coverage: float) -> np.ndarray:
    """Resemblyzer's ``embed_utterance`` (the mean of 1.6 s partials' embeddings, L2-normed),
    with the mel filter bank built once: the library rebuilds it on every call, which was
    half the cost of scoring a short result."""
    import torch

    _one_torch_thread()
    wav_slices, mel_slices = encoder.compute_partial_slices(len(wav), rate=rate, min_coverage=min_coverage)
    if wav_slices[-1].stop >= len(wav):
        wav = np.pad(wav, (0, wav_slices[-1].stop - len(wav)), "constant")
    mel = _mel_spectrogram(wav)
    with torch.inference_mode():
        partials = encoder(torch.from_numpy(np.array([mel[s] for s in mel_slices]))).numpy()
    raw = partials.mean(axis=0)
    return (raw / np.linalg.norm(raw, 2)).astype(np.float32)


@functools.cache
def _mel_basis() -> np.ndarray:
    import librosa
    from resemblyzer import hparams

    return librosa.filters.mel(sr=EMBEDDING_RATE, n_fft=_N_FFT, n_mels=hparams.mel_n_channels)


_N_FFT = EMBEDDING_RATE * 25 // 1000  # Resemblyzer's 25 ms window and 10 ms step
_HOP = EMBEDDING_RATE * 10 // 1000


def _mel_spectrogram(wav: np.ndarray) -> np.ndarray:
    """What ``resemblyzer.audio.wav_to_mel_spectrogram`` returns (a power mel spectrogram, frames first)."""
    import librosa

    power = np.abs(librosa.stft(wav, n_fft=_N_FFT, hop_length=_HOP)) ** 2
    return (_mel_basis() @ power).astype(np.float32).T


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))
