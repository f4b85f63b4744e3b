"""WORLD vocoder analysis, voice adaptation and resynthesis (``pyworld``).

Adaptation moves eSpeak's speech toward a reference voice along the axes WORLD
separates cleanly: the pitch contour (level and range, mapped in log-F0), the
spectral envelope (a frequency warp that scales the formants, i.e. the
apparent vocal-tract length) and loudness. Aperiodicity is kept as is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyworld

FRAME_PERIOD_MS = 5.0
F0_FLOOR, F0_CEIL = 60.0, 500.0


@dataclass(frozen=True)
class Analysis:
    f0: np.ndarray
    sp: np.ndarray
    ap: np.ndarray
    sample_rate: int


@dataclass(frozen=True)
class PitchStats:
    log_mean: float
    log_std: float
    median_hz: float
    voiced_fraction: float


def f0_contour(x: np.ndarray, fs: int) -> np.ndarray:
    x64 = np.ascontiguousarray(x, dtype=np.float64)
    f0, t = pyworld.dio(x64, fs, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_PERIOD_MS)
    return pyworld.stonemask(x64, f0, t, fs)


def analyze(x: np.ndarray, fs: int) -> Analysis:
    x64 = np.ascontiguousarray(x, dtype=np.float64)
    f0, t = pyworld.dio(x64, fs, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_PERIOD_MS)
    f0 = pyworld.stonemask(x64, f0, t, fs)
    sp = pyworld.cheaptrick(x64, f0, t, fs, f0_floor=F0_FLOOR)
    ap = pyworld.d4c(x64, f0, t, fs)
    return Analysis(f0=f0, sp=sp, ap=ap, sample_rate=fs)


def pitch_stats(f0: np.ndarray) -> PitchStats:
    voiced = f0[f0 > 0]
    if voiced.size < 10:
        raise ValueError("too little voiced speech to measure pitch")
    logs = np.log(voiced)
    return PitchStats(
        log_mean=float(logs.mean()),
        log_std=float(max(logs.std(), 1e-3)),
        median_hz=float(np.median(voiced)),
        voiced_fraction=float(voiced.size / f0.size),
    )


def map_pitch(f0: np.ndarray, *, source: PitchStats, target_log_mean: float, target_log_std: float) -> np.ndarray:
    """Gaussian log-F0 mapping: the source contour's shape at the target's level and range."""
    out = np.zeros_like(f0)
    voiced = f0 > 0
    z = (np.log(f0[voiced]) - source.log_mean) / source.log_std
    out[voiced] = np.exp(target_log_mean + z * target_log_std)
    return np.clip(out, 0.0, F0_CEIL * 1.5)


def warp_envelope(sp: np.ndarray, alpha: float) -> np.ndarray:
    """Scale the spectral envelope's frequency axis by ``alpha`` (>1 raises formants)."""
    if abs(alpha - 1.0) < 1e-3:
        return sp
    bins = sp.shape[1]
    source = np.arange(bins) / alpha
    lo = np.clip(np.floor(source).astype(int), 0, bins - 1)
    hi = np.clip(lo + 1, 0, bins - 1)
    frac = np.clip(source - lo, 0.0, 1.0)
    log_sp = np.log(np.maximum(sp, 1e-16))
    warped = log_sp[:, lo] * (1 - frac) + log_sp[:, hi] * frac
    return np.exp(warped)


def synthesize(f0: np.ndarray, sp: np.ndarray, ap: np.ndarray, fs: int) -> np.ndarray:
    y = pyworld.synthesize(
        np.ascontiguousarray(f0), np.ascontiguousarray(sp), np.ascontiguousarray(ap), fs, FRAME_PERIOD_MS
    )
    return y.astype(np.float32)


def speech_rms_db(x: np.ndarray, fs: int) -> float:
    """Loudness of the speech parts: mean power of the loudest 20 ms frames (above -50 dBFS), in dBFS."""
    frame = int(0.02 * fs)
    n = len(x) // frame
    if n == 0:
        return -120.0
    rms = np.sqrt(np.mean(x[: n * frame].astype(np.float64).reshape(n, frame) ** 2, axis=1) + 1e-12)
    db = 20 * np.log10(rms)
    speech = db[db > max(-50.0, db.max() - 35.0)]
    return float(10 * np.log10(np.mean(10 ** (speech / 10)))) if speech.size else -120.0


def syllable_rate(f0: np.ndarray, *, max_pause_ms: float = 300.0) -> float:
    """Voiced runs per second of speaking time (pauses over ``max_pause_ms`` not
    counted): a rough syllable rate, comparable between recordings measured alike."""
    voiced = f0 > 0
    idx = np.flatnonzero(voiced)
    if idx.size < 2:
        return 0.0
    v = voiced[idx[0] : idx[-1] + 1].astype(np.int8)
    edges = np.diff(np.concatenate([[1], v, [1]]))
    gap_starts, gap_ends = np.flatnonzero(edges == -1), np.flatnonzero(edges == 1)
    max_pause = max_pause_ms / FRAME_PERIOD_MS
    excess = sum(max(0.0, (end - start) - max_pause) for start, end in zip(gap_starts, gap_ends, strict=True))
    active_seconds = (len(v) - excess) * FRAME_PERIOD_MS / 1000.0
    onsets = int(np.sum(np.diff(v) == 1)) + 1
    return onsets / max(active_seconds, 1e-3)
