"""What the embedded engine learns from a reference voice, and how.

Extraction measures the reference (pitch level and range, loudness, speaking
rate, long-term spectral envelope, speaker embedding), then searches eSpeak's
voice variants and formant warps for the combination whose adapted speech
sounds closest to the reference, scored by speaker-embedding cosine on a probe
sentence. That search is the expensive step; it runs once per voice.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np
import soxr

from synthesis import speaker_embedding as embedding
from synthesis.engines.embedded import espeak, japanese, world

ANALYSIS_RATE = 16000
WARPS = (0.86, 0.93, 1.0, 1.07, 1.14, 1.21)
# eSpeak NG variants tried for every voice ("" is the language's default voice).
DEFAULT_VARIANTS = (
    "", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "Alex", "Andy", "Annie", "adam", "david", "linda",
    "steph", "iven", "john", "paul", "robert", "shelby", "travis", "zac", "belinda", "aunty", "quincy",
)  # fmt: skip
_TOP_VARIANTS = 3
_MAX_EQ_DB = 12.0
_EQ_SMOOTH_BINS = 15
# One sentence per language, spoken by each candidate variant during the search.
PROBES = {
    "en": "When the sunlight strikes raindrops in the air, they act as a prism and form a rainbow.",
    "zh": "当阳光照射到空气中的雨滴时，雨滴就像棱镜一样，形成了一道彩虹。",
    "yue": "當陽光照射到空氣中嘅雨點，雨點就好似三稜鏡咁，形成一道彩虹。",
    "ja": "太陽の光が空気中の雨粒に当たると、雨粒はプリズムのように働き、虹ができます。",
    "ko": "햇빛이 공기 중의 빗방울에 닿으면 빗방울은 프리즘처럼 작용하여 무지개를 만듭니다.",
}
# eSpeak NG voice for each language code the service accepts.
VOICES = {"en": "en-us", "zh": "cmn", "yue": "yue", "ja": "ja", "ko": "ko"}
BASE_RATE_WPM = 175
PROFILE_VERSION = 1


class ReferenceUnusable(ValueError):
    """The reference holds too little voiced speech to learn a voice from."""


@dataclass(frozen=True)
class EmbeddedProfile:
    version: int
    base_variant: str
    warp: float
    pitch_log_mean: float
    pitch_log_std: float
    pitch_median_hz: float
    rate: float  # speaking-rate factor applied to eSpeak's words per minute
    loudness_db: float
    eq: list[float] = field(repr=False)  # log-gain per envelope bin, at ANALYSIS_RATE
    embedding: list[float] = field(repr=False)
    search_score: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EmbeddedProfile:
        return cls(**data)


def voice_name(language: str, variant: str) -> str:
    base = VOICES[language]
    return f"{base}+{variant}" if variant else base


def speak(text: str, *, language: str, variant: str, rate: float = 1.0) -> np.ndarray:
    """eSpeak's speech for ``text``, as float32 at ANALYSIS_RATE."""
    return speak_timed(text, language=language, variant=variant, rate=rate)[0]


def speak_timed(
    text: str, *, language: str, variant: str, rate: float = 1.0
) -> tuple[np.ndarray, list[tuple[int, int, float]]]:
    """eSpeak's speech for ``text`` (float32 at ANALYSIS_RATE) and, for each word it spoke,
    (first character, end character, second at which eSpeak began it). Japanese is given to
    eSpeak as kana (it has no kanji readings); the words' spans are still in ``text``."""
    said = japanese.reading(text) if language == "ja" else japanese.as_written(text)
    es = espeak.get()
    speech = es.speak(said.text, voice=voice_name(language, variant), rate_wpm=round(BASE_RATE_WPM * rate))
    audio = soxr.resample(speech.samples.astype(np.float32) / 32768.0, es.sample_rate, ANALYSIS_RATE)
    words = []
    for a, b, sample in speech.words:
        span = said.original_span(a, b)
        if span is not None:
            words.append((*span, sample / es.sample_rate))
    return audio.astype(np.float32), words


def log_envelope(analysis: world.Analysis) -> np.ndarray:
    """Mean log spectral envelope over voiced frames."""
    voiced = analysis.f0 > 0
    frames = analysis.sp[voiced] if voiced.sum() >= 10 else analysis.sp
    return np.log(np.maximum(frames, 1e-16)).mean(axis=0)


def _smooth(curve: np.ndarray, width: int = _EQ_SMOOTH_BINS) -> np.ndarray:
    padded = np.pad(curve, (width // 2, width // 2), mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def equaliser(target_env: np.ndarray, source_env: np.ndarray) -> np.ndarray:
    """A smooth static EQ (log gain per bin) taking source's long-term spectrum to target's."""
    diff = _smooth(target_env - source_env)
    limit = np.log(10 ** (_MAX_EQ_DB / 10))
    return np.clip(diff - diff.mean(), -limit, limit)


def adapt(analysis: world.Analysis, profile: EmbeddedProfile) -> np.ndarray:
    """Resynthesize eSpeak speech with the profile's pitch, formants, timbre and loudness."""
    try:
        source = world.pitch_stats(analysis.f0)
    except ValueError:  # (almost) unvoiced: nothing to map
        f0 = analysis.f0
    else:
        f0 = world.map_pitch(
            analysis.f0, source=source, target_log_mean=profile.pitch_log_mean, target_log_std=profile.pitch_log_std
        )
    sp = world.warp_envelope(analysis.sp, profile.warp) * np.exp(np.asarray(profile.eq))[None, :]
    out = world.synthesize(f0, sp, analysis.ap, analysis.sample_rate)
    gain_db = profile.loudness_db - world.speech_rms_db(out, analysis.sample_rate)
    return np.clip(out * 10 ** (gain_db / 20), -1.0, 1.0).astype(np.float32)


@lru_cache(maxsize=256)
def _probe_analysis(language: str, variant: str) -> world.Analysis:
    """The probe sentence in a variant, analysed; the same for every voice, so computed once per process."""
    return world.analyze(speak(PROBES[language], language=language, variant=variant), ANALYSIS_RATE)


_probe_lock = threading.Lock()


def _probe(language: str, variant: str) -> world.Analysis:
    with _probe_lock:  # eSpeak is serialised anyway; this keeps lru_cache from computing twice
        return _probe_analysis(language, variant)


def warm_probes(language: str, variants: tuple[str, ...]) -> None:
    """Compute the probes a voice in ``language`` is searched with, ahead of its first voice."""
    for variant in variants:
        _probe(language if language in PROBES else "en", variant)


def extract(samples: np.ndarray, sample_rate: int, *, language: str, variants: tuple[str, ...]) -> EmbeddedProfile:
    x = soxr.resample(samples.astype(np.float32), sample_rate, ANALYSIS_RATE).astype(np.float32)
    reference = world.analyze(x, ANALYSIS_RATE)
    try:
        pitch = world.pitch_stats(reference.f0)
    except ValueError as exc:
        raise ReferenceUnusable("the reference has too little voiced speech") from exc
    target_env = log_envelope(reference)
    loudness = world.speech_rms_db(x, ANALYSIS_RATE)
    ref_embedding = embedding.embed(samples, sample_rate)
    probe_language = language if language in PROBES else "en"

    def candidate(variant: str, warp: float) -> tuple[float, EmbeddedProfile]:
        probe = _probe(probe_language, variant)
        warped = world.Analysis(probe.f0, world.warp_envelope(probe.sp, warp), probe.ap, probe.sample_rate)
        warped_env = log_envelope(warped)
        profile = EmbeddedProfile(
            version=PROFILE_VERSION,
            base_variant=variant,
            warp=warp,
            pitch_log_mean=pitch.log_mean,
            pitch_log_std=pitch.log_std,
            pitch_median_hz=pitch.median_hz,
            rate=1.0,
            loudness_db=loudness,
            eq=equaliser(target_env, warped_env).round(4).tolist(),
            embedding=ref_embedding.round(6).tolist(),
        )
        score = embedding.cosine(ref_embedding, embedding.embed(adapt(probe, profile), ANALYSIS_RATE))
        return score, profile

    scored = {(v, 1.0): candidate(v, 1.0) for v in variants}
    best_variants = sorted(variants, key=lambda v: -scored[(v, 1.0)][0])[:_TOP_VARIANTS]
    for variant in best_variants:
        for warp in WARPS:
            if (variant, warp) not in scored:
                scored[(variant, warp)] = candidate(variant, warp)
    score, best = max(scored.values(), key=lambda pair: pair[0])
    rate = _rate_factor(reference.f0, _probe(probe_language, best.base_variant).f0)
    return EmbeddedProfile(**{**best.to_dict(), "rate": rate, "search_score": round(score, 4)})


def _rate_factor(reference_f0: np.ndarray, probe_f0: np.ndarray) -> float:
    """How much faster the reference speaks than eSpeak at its base rate (clamped to ±25 %)."""
    ref_rate, probe_rate = world.syllable_rate(reference_f0), world.syllable_rate(probe_f0)
    if ref_rate <= 0 or probe_rate <= 0:
        return 1.0
    return float(np.clip(ref_rate / probe_rate, 0.8, 1.25).round(3))
