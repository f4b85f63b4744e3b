"""Engines are registered by name; each worker runs the one ``SYNTHESIS_ENGINE`` names."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.conf import settings

from synthesis.engines.base import Engine

_FACTORIES: dict[str, Callable[[], Engine]] = {}
_instances: dict[str, Engine] = {}
_lock = threading.Lock()


def register(name: str, factory: Callable[[], Engine]) -> None:
    _FACTORIES[name] = factory


def get_engine(name: str | None = None) -> Engine:
    """The (process-wide, lazily built) engine called ``name``, by default the configured one."""
    name = name or settings.SYNTHESIS_ENGINE
    with _lock:
        if name not in _instances:
            if name not in _FACTORIES:
                raise LookupError(f"no engine named {name!r}; known: {sorted(_FACTORIES)}")
            _instances[name] = _FACTORIES[name]()
        return _instances[name]


def _embedded() -> Engine:
    from synthesis.engines.embedded.engine import EmbeddedEngine

    return EmbeddedEngine()


register("embedded", _embedded)
