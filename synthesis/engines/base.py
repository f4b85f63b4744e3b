"""The engine contract: every synthesizer behind the service looks like this.

It is batch-first (a worker hands over several requests at once, which a GPU
engine runs together) and profile-based (the expensive analysis of a reference
voice happens once, in ``extract_profile``, and its result is reused).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

# (index of the request in the batch, fraction of that request done in [0, 1])
ProgressCallback = Callable[[int, float], None]


class EngineError(RuntimeError):
    """The engine failed on input it accepted; the task may succeed if retried."""


class UnsupportedLanguage(ValueError):
    pass


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
class SynthesisResult:
    audio: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


class Engine(Protocol):
    name: ClassVar[str]
    languages: ClassVar[frozenset[str]]

    def extract_profile(self, *, audio: np.ndarray, sample_rate: int, text: str, language: str) -> VoiceProfile: ...

    def synthesize(
        self, requests: Sequence[SynthesisRequest], *, on_progress: ProgressCallback | None = None
    ) -> list[SynthesisResult]: ...
