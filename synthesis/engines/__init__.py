"""Engines are registered by name; each worker runs the one ``SYNTHESIS_ENGINE`` names.

Registration records the name, the languages and a factory, so the web
process can validate a request's language without loading an engine's models.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from synthesis.engines.base import Engine


@dataclass(frozen=True)
class EngineInfo:
    name: str
    languages: frozenset[str]
    factory: Callable[[], Engine]


_REGISTRY: dict[str, EngineInfo] = {}
_instances: dict[str, Engine] = {}
_lock = threading.Lock()


def register(name: str, *, languages: frozenset[str], factory: Callable[[], Engine]) -> None:
    _REGISTRY[name] = EngineInfo(name=name, languages=languages, factory=factory)


def engine_info(name: str | None = None) -> EngineInfo:
    name = name or settings.SYNTHESIS_ENGINE
    if name not in _REGISTRY:
        raise LookupError(f"no engine named {name!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def get_engine(name: str | None = None) -> Engine:
    """The (process-wide, lazily built) engine called ``name``, by default the configured one."""
    info = engine_info(name)
    with _lock:
        if info.name not in _instances:
            _instances[info.name] = info.factory()
        return _instances[info.name]


def _embedded() -> Engine:
    from synthesis.engines.embedded.engine import EmbeddedEngine

    return EmbeddedEngine(variants=tuple(settings.EMBEDDED_VARIANTS) or None)


register("embedded", languages=frozenset({"en", "zh", "yue", "ja", "ko"}), factory=_embedded)
