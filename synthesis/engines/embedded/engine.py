"""The embedded engine: eSpeak NG speech adapted toward the reference voice with WORLD.

It needs nothing but the wheels it ships with and runs offline on any CPU. It
is formant speech moved toward a voice (pitch, formants, timbre, rate,
loudness), not neural voice cloning.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from synthesis.engines.base import (
    AudioChunk,
    EngineError,
    ProgressCallback,
    ReferenceUnusable,
    SynthesisRequest,
    SynthesisResult,
    UnsupportedLanguage,
    VoiceProfile,
    synthesize_by_streaming,
)
from synthesis.engines.embedded import profile as profiles
from synthesis.engines.embedded import world
from synthesis.engines.text import split_sentences

_PAUSE_SECONDS = 0.18
_FADE_SECONDS = 0.005
_MIN_SPEED, _MAX_SPEED = 0.5, 2.0


class EmbeddedEngine:
    name = "embedded"
    languages = frozenset(profiles.VOICES)
    sample_rate = profiles.ANALYSIS_RATE

    def __init__(self, *, variants: tuple[str, ...] | None = None) -> None:
        self.variants = variants or profiles.DEFAULT_VARIANTS

    def extract_profile(
        self, *, audio: np.ndarray, sample_rate: int, text: str, language: str, model: str | None = None
    ) -> VoiceProfile:
        try:
            extracted = profiles.extract(audio, sample_rate, language=language, variants=self.variants)
        except profiles.ReferenceUnusable as exc:
            raise ReferenceUnusable(str(exc)) from exc
        return VoiceProfile(engine=self.name, data=extracted.to_dict())

    def synthesize(
        self, requests: Sequence[SynthesisRequest], *, on_progress: ProgressCallback | None = None
    ) -> list[SynthesisResult]:
        return synthesize_by_streaming(self, requests, on_progress)

    def stream(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        if request.language not in self.languages:
            raise UnsupportedLanguage(request.language)
        voice = profiles.EmbeddedProfile.from_dict(dict(request.profile.data))
        speed = float(np.clip(float(request.params.get("speed", 1.0)), _MIN_SPEED, _MAX_SPEED))
        sentences = split_sentences(request.text)
        if not sentences:
            raise EngineError("nothing to say: the text has no speakable content")
        pause = np.zeros(int(_PAUSE_SECONDS * self.sample_rate), dtype=np.float32)
        for done, sentence in enumerate(sentences, start=1):
            speech = profiles.speak(
                sentence, language=request.language, variant=voice.base_variant, rate=voice.rate * speed
            )
            if speech.size == 0:
                continue
            audio = _fade(profiles.adapt(world.analyze(speech, self.sample_rate), voice), self.sample_rate)
            if done < len(sentences):
                audio = np.concatenate([audio, pause])
            yield AudioChunk(audio=audio, sample_rate=self.sample_rate, progress=done / len(sentences))


def _fade(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Short raised-cosine fades at both ends, so sentence joins do not click."""
    n = min(int(_FADE_SECONDS * sample_rate), len(samples) // 2)
    if n > 0:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n, dtype=np.float32))
        samples[:n] *= ramp
        samples[-n:] *= ramp[::-1]
    return samples
