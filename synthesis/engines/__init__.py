"""Engines are registered by name; a deployment serves those in ``SYNTHESIS_ENGINES``.

Registration records the name, the languages, what a reference must be and a
factory, so the web process can validate a request without loading an engine's
models. A worker builds each engine it runs once (``get_engine``) and keeps it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from synthesis import queues
from synthesis.engines.base import Engine


@dataclass(frozen=True)
class EngineInfo:
    name: str
    languages: frozenset[str]
    factory: Callable[[], Engine]
    # The reference's transcript is the prompt (GPT-SoVITS): a voice without one is refused.
    needs_reference_text: bool = False
    # Reference length the engine takes, when narrower than REFERENCE_MIN/MAX_SECONDS.
    reference_seconds: tuple[float, float] | None = None
    uses_models: bool = False


_REGISTRY: dict[str, EngineInfo] = {}
_instances: dict[str, Engine] = {}
_lock = threading.Lock()


def register(info: EngineInfo) -> None:
    if info.name not in queues.ENGINES:
        raise LookupError(f"add {info.name!r} to synthesis.queues.ENGINES so that it gets queues")
    _REGISTRY[info.name] = info


def engine_info(name: str | None = None) -> EngineInfo:
    """The engine called ``name``, by default the deployment's first."""
    name = name or settings.SYNTHESIS_ENGINES[0]
    if name not in _REGISTRY:
        raise LookupError(f"no engine named {name!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def served() -> list[EngineInfo]:
    """The engines this deployment serves, default first."""
    return [engine_info(name) for name in settings.SYNTHESIS_ENGINES]


def get_engine(name: str | None = None) -> Engine:
    """The (process-wide, lazily built) engine called ``name``, by default the deployment's first."""
    info = engine_info(name)
    with _lock:
        if info.name not in _instances:
            _instances[info.name] = info.factory()
        return _instances[info.name]


def _embedded() -> Engine:
    from synthesis.engines.embedded.engine import EmbeddedEngine

    return EmbeddedEngine(variants=tuple(settings.EMBEDDED_VARIANTS) or None)


def _gpt_sovits() -> Engine:
    from synthesis.engines.gpt_sovits.engine import GptSovitsEngine
    from synthesis.services.models import model_source

    return GptSovitsEngine(
        assets_dir=settings.GPT_SOVITS_ASSETS_DIR,
        resolve_model=model_source,
        device=settings.GPT_SOVITS_DEVICE,
        half=settings.GPT_SOVITS_HALF,
        memory_budget_mb=settings.GPT_SOVITS_MEMORY_BUDGET_MB,
        max_batch=settings.GPT_SOVITS_MAX_BATCH,
        batch_window_ms=settings.GPT_SOVITS_BATCH_WINDOW_MS,
        max_profiles=settings.PROFILE_CACHE_SIZE,
    )


register(EngineInfo("embedded", frozenset({"en", "zh", "yue", "ja", "ko"}), _embedded))
register(
    EngineInfo(
        "gpt-sovits",
        frozenset({"en", "zh", "ja"}),
        _gpt_sovits,
        needs_reference_text=True,
        # Upstream refuses prompts outside 3-10 s; longer ones also eat the model's token budget.
        reference_seconds=(3.0, 10.0),
        uses_models=True,
    )
)
