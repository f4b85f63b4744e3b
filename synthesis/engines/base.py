"""The engine contract: every synthesizer behind the service looks like this.

- Batch-first: a worker hands over several requests at once (a GPU engine runs
  them together); progress is reported per request.
- Profile-based: the expensive analysis of a reference voice happens once, in
  ``extract_profile``; its JSON-serialisable result is stored and reused.
- Streaming-capable: ``stream`` yields audio a piece at a time (a sentence for
  the embedded engine), which ``synthesize`` is built on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

# (index of the request in the batch, fraction of that request done in [0, 1])
ProgressCallback = Callable[[int, float], None]
# (index of the request in the batch, the request's next piece of audio), as soon as it exists
AudioCallback = Callable[[int, "AudioChunk"], None]


class EngineError(RuntimeError):
    """The engine failed on input it accepted; the task may succeed if retried."""


class ModelUnavailable(EngineError):
    """The model a voice speaks through could not be loaded on this worker."""

    def __init__(self, model_id: str, cause: BaseException):
        super().__init__(f"model {model_id} could not be loaded ({type(cause).__name__})")
        self.model_id = model_id
        self.cause = cause


class ModelTooLarge(EngineError):
    """The model pair does not fit the worker's model memory budget, even alone."""

    def __init__(self, model_id: str, needed: int, budget: int):
        super().__init__(f"model {model_id} needs {needed} bytes; the budget is {budget}")
        self.model_id, self.needed, self.budget = model_id, needed, budget


class UnsupportedLanguage(ValueError):
    pass


class ReferenceUnusable(ValueError):
    """The reference audio cannot give a voice profile (too little voiced speech...)."""


@dataclass(frozen=True)
class VoiceProfile:
    """What an engine extracted from a reference voice. ``data`` must be JSON-serialisable."""

    engine: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class SynthesisRequest:
    text: str
    language: str
    profile: VoiceProfile
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WordTiming:
    """When a word of the request's text is spoken: seconds from the start of the request's
    audio, and the word's character span in the request's text."""

    start: float
    end: float
    text_start: int
    text_end: int

    def shifted(self, seconds: float) -> WordTiming:
        return WordTiming(self.start + seconds, self.end + seconds, self.text_start, self.text_end)

    def as_dict(self) -> dict:
        return {"start": round(self.start, 3), "end": round(self.end, 3),
                "text_start": self.text_start, "text_end": self.text_end}  # fmt: skip


@dataclass(frozen=True)
class AudioChunk:
    audio: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    progress: float  # fraction of the request done once this chunk is out
    words: tuple[WordTiming, ...] = ()  # the words this chunk speaks, timed from the request's start


@dataclass(frozen=True)
class SynthesisResult:
    audio: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    words: tuple[WordTiming, ...] = ()

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


class Engine(Protocol):
    name: ClassVar[str]
    languages: ClassVar[frozenset[str]]

    def extract_profile(
        self, *, audio: np.ndarray, sample_rate: int, text: str, language: str, model: str | None = None
    ) -> VoiceProfile:
        """``model``: the id of the voice's model pair, for engines that have them (GPT-SoVITS)."""
        ...

    def stream(self, request: SynthesisRequest) -> Iterator[AudioChunk]: ...

    def synthesize(
        self,
        requests: Sequence[SynthesisRequest],
        *,
        on_progress: ProgressCallback | None = None,
        on_audio: AudioCallback | None = None,
    ) -> list[SynthesisResult | Exception]:
        """One result per request, in order. Raising fails the whole call; an engine that can
        tell items apart returns an item's own failure as its exception, in its place (including
        what ``on_progress`` raised for that item). ``on_audio`` receives each request's audio
        in order as it is made (a request run in a batched kernel arrives as one piece); the
        pieces of a request, joined, are its result's audio."""
        ...


def synthesize_by_streaming(
    engine: Engine,
    requests: Sequence[SynthesisRequest],
    on_progress: ProgressCallback | None,
    on_audio: AudioCallback | None = None,
) -> list[SynthesisResult]:
    """``synthesize`` for engines with no batched kernel: each request streamed in turn."""
    results = []
    for index, request in enumerate(requests):
        chunks = []
        for chunk in engine.stream(request):
            chunks.append(chunk)
            if on_audio:
                on_audio(index, chunk)
            if on_progress:
                on_progress(index, chunk.progress)
        if not chunks:
            raise EngineError("the engine produced no audio")
        results.append(
            SynthesisResult(
                audio=np.concatenate([c.audio for c in chunks]),
                sample_rate=chunks[0].sample_rate,
                words=tuple(word for c in chunks for word in c.words),
            )
        )
    return results
