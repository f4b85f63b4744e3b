"""The embedded engine: eSpeak NG speech, sentence by sentence, on the CPU.

It needs nothing but the wheels it ships with and runs offline anywhere. It is
formant speech, not neural voice cloning.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from synthesis.engines.base import (
    EngineError,
    ProgressCallback,
    SynthesisRequest,
    SynthesisResult,
    UnsupportedLanguage,
    VoiceProfile,
)
from synthesis.engines.embedded import espeak
from synthesis.engines.text import split_sentences

# eSpeak NG voice for each language code the service accepts.
VOICES = {"en": "en-us", "zh": "cmn", "yue": "yue", "ja": "ja", "ko": "ko"}
_PAUSE_SECONDS = 0.18
_FADE_SECONDS = 0.005


class EmbeddedEngine:
    name = "embedded"
    languages = frozenset(VOICES)

    def __init__(self) -> None:
        self._espeak = espeak.get()

    @property
    def sample_rate(self) -> int:
        return self._espeak.sample_rate

    def extract_profile(self, *, audio: np.ndarray, sample_rate: int, text: str, language: str) -> VoiceProfile:
        return VoiceProfile(engine=self.name, data={"base_voice": VOICES.get(language, "en-us")})

    def synthesize(
        self, requests: Sequence[SynthesisRequest], *, on_progress: ProgressCallback | None = None
    ) -> list[SynthesisResult]:
        return [self._synthesize_one(i, request, on_progress) for i, request in enumerate(requests)]

    def _synthesize_one(
        self, index: int, request: SynthesisRequest, on_progress: ProgressCallback | None
    ) -> SynthesisResult:
        if request.language not in VOICES:
            raise UnsupportedLanguage(request.language)
        voice = VOICES[request.language]
        speed = float(request.params.get("speed", 1.0))
        sentences = split_sentences(request.text)
        if not sentences:
            raise EngineError("nothing to say: the text has no speakable content")
        pause = np.zeros(int(_PAUSE_SECONDS * self.sample_rate), dtype=np.float32)
        pieces: list[np.ndarray] = []
        for done, sentence in enumerate(sentences, start=1):
            samples = self._espeak.synthesize(sentence, voice=voice, rate_wpm=int(175 * speed))
            pieces.append(_fade(samples.astype(np.float32) / 32768.0, self.sample_rate))
            pieces.append(pause)
            if on_progress:
                on_progress(index, done / len(sentences))
        audio = np.concatenate(pieces[:-1])
        if not np.any(audio):
            raise EngineError("the engine produced silence")
        return SynthesisResult(audio=audio, sample_rate=self.sample_rate)


def _fade(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Short raised-cosine fades at both ends, so sentence joins do not click."""
    n = min(int(_FADE_SECONDS * sample_rate), len(samples) // 2)
    if n > 0:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n, dtype=np.float32))
        samples[:n] *= ramp
        samples[-n:] *= ramp[::-1]
    return samples
