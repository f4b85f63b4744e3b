"""The embedded engine: eSpeak NG speech adapted toward the reference voice with WORLD.

It needs nothing but the wheels it ships with and runs offline on any CPU. It
is formant speech moved toward a voice (pitch, formants, timbre, rate,
loudness), not neural voice cloning.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import numpy as np

from synthesis import speaker_embedding as embedding
from synthesis.engines.base import (
    AudioCallback,
    AudioChunk,
    EngineError,
    ProgressCallback,
    ReferenceUnusable,
    SynthesisRequest,
    SynthesisResult,
    UnsupportedLanguage,
    VoiceProfile,
    WordTiming,
    synthesize_by_streaming,
)
from synthesis.engines.embedded import japanese, world
from synthesis.engines.embedded import profile as profiles
from synthesis.engines.text import sentence_spans
from synthesis.engines.words import spread, tokens

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

    def warm(self, *, profile_languages: Sequence[str] = ()) -> None:
        """Load now what a worker's first job would: eSpeak, WORLD, the Japanese reader and the
        speaker-embedding network; and for profiling, the probes of ``profile_languages``."""
        world.analyze(profiles.speak("Ready.", language="en", variant=""), self.sample_rate)
        japanese.warm()
        embedding.warm()
        for language in profile_languages:
            profiles.warm_probes(language, self.variants)

    def synthesize(
        self,
        requests: Sequence[SynthesisRequest],
        *,
        on_progress: ProgressCallback | None = None,
        on_audio: AudioCallback | None = None,
    ) -> list[SynthesisResult]:
        return synthesize_by_streaming(self, requests, on_progress, on_audio)

    def stream(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        if request.language not in self.languages:
            raise UnsupportedLanguage(request.language)
        voice = profiles.EmbeddedProfile.from_dict(dict(request.profile.data))
        speed = float(np.clip(float(request.params.get("speed", 1.0)), _MIN_SPEED, _MAX_SPEED))
        spans = sentence_spans(request.text)
        if not spans:
            raise EngineError("nothing to say: the text has no speakable content")
        pause = np.zeros(int(_PAUSE_SECONDS * self.sample_rate), dtype=np.float32)
        offset = 0.0  # seconds of audio before this sentence
        for done, (start, end) in enumerate(spans, start=1):
            # The speaking rate is eSpeak's own, so its word events already tell the changed timing.
            sentence = request.text[start:end]
            speech, events = profiles.speak_timed(
                sentence, language=request.language, variant=voice.base_variant, rate=voice.rate * speed
            )
            if speech.size == 0:
                continue
            audio = _fade(profiles.adapt(world.analyze(speech, self.sample_rate), voice), self.sample_rate)
            timings = _word_timings(events, sentence, audio, self.sample_rate, start)
            words = tuple(word.shifted(offset) for word in timings)
            if done < len(spans):
                audio = np.concatenate([audio, pause])
            offset += len(audio) / self.sample_rate
            yield AudioChunk(audio=audio, sample_rate=self.sample_rate, progress=done / len(spans), words=words)


_FRAME_SECONDS = 0.01
# Scripts written without spaces between words (kana, CJK ideographs).
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SILENCE_DB = -40.0  # below the sentence's loudest frame


def _word_timings(
    events: list[tuple[int, int, float]], text: str, audio: np.ndarray, rate: int, text_offset: int
) -> list[WordTiming]:
    """Each word spoken, from eSpeak's word events: a word lasts from its event to the next
    word's, narrowed to the sound in between (the pause after a comma is not the word's)."""
    marks: list[list] = []  # [second, first character, end character], in time order
    for event_start, event_end, second in sorted(events, key=lambda event: event[2]):
        a, b = _whole_word(text, event_start, event_end)
        if a >= b:
            continue
        if marks and a < marks[-1][2]:  # "1990" is read as several words over one span: one word
            marks[-1][2] = max(marks[-1][2], b)
        else:
            marks.append([second, a, b])
    frame = max(1, int(_FRAME_SECONDS * rate))
    count = len(audio) // frame
    if count == 0 or not marks:
        return []
    level = 20 * np.log10(np.sqrt(np.mean(audio[: count * frame].reshape(count, frame) ** 2, axis=1)) + 1e-10)
    loud = np.flatnonzero(level > level.max() + _SILENCE_DB)
    words = []
    seconds = frame / rate
    for i, (second, a, b) in enumerate(marks):
        first = min(count, round(second * rate / frame))
        last = min(count, round(marks[i + 1][0] * rate / frame)) if i + 1 < len(marks) else count
        inside = loud[(loud >= first) & (loud < last)]
        begin, finish = (int(inside[0]), int(inside[-1]) + 1) if inside.size else (first, max(first, last))
        # eSpeak says some phrases as one word ("for a while"): its words share the time.
        following = marks[i + 1][1] if i + 1 < len(marks) else len(text)
        spans = tokens(text, a, max(b, following)) or [(a, b)]
        words.extend(spread(begin * seconds, finish * seconds, [(x + text_offset, y + text_offset) for x, y in spans]))
    return words


def _whole_word(text: str, start: int, end: int) -> tuple[int, int]:
    """eSpeak's span of a word, as the word in the text: without the punctuation it may take
    in ("1990,"), with what it may leave out ("It" of "It's"). Chinese and Japanese put no
    space between words: there the span is the word, and the next character another's."""
    end = min(end, len(text))
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    while (
        end < len(text)
        and not (end > start and _UNSPACED.match(text, end - 1))
        and not _UNSPACED.match(text, end)
        and (text[end].isalnum() or (text[end] in "'’-" and text[end + 1 : end + 2].isalnum()))
    ):
        end += 1
    return start, end


def _fade(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Short raised-cosine fades at both ends, so sentence joins do not click."""
    n = min(int(_FADE_SECONDS * sample_rate), len(samples) // 2)
    if n > 0:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n, dtype=np.float32))
        samples[:n] *= ramp
        samples[-n:] *= ramp[::-1]
    return samples
