"""Speaker embeddings (Resemblyzer's d-vector encoder; its wheel carries the weights).

Used to choose the eSpeak variant closest to a voice, and to score every result:
``similarity`` is the cosine between the output's embedding and the reference's.
"""

from __future__ import annotations

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
            import torch
            from resemblyzer import VoiceEncoder

            # Workers run one engine call per thread; letting torch spread each
            # call over every core as well would oversubscribe the CPU.
            torch.set_num_threads(1)

            _encoder = VoiceEncoder(device="cpu", verbose=False)
        return _encoder


def embed(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """A unit-length 256-d embedding of the voice in ``samples``."""
    from resemblyzer import preprocess_wav

    wav = samples.astype(np.float32)
    if sample_rate != EMBEDDING_RATE:
        wav = soxr.resample(wav, sample_rate, EMBEDDING_RATE).astype(np.float32)
    wav = preprocess_wav(wav)
    if wav.size < EMBEDDING_RATE // 4:
        raise ValueError("too little speech to embed")
    return _get_encoder().embed_utterance(wav).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))
