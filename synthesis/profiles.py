"""Voice profiles: stored encrypted, cached in worker memory (LRU with TTL).

A profile is extracted once per voice (and engine) by its own job after
upload. Tasks then find it in this process's cache, or load and decrypt the
stored copy; only a voice never profiled for this engine is extracted inline.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import numpy as np
from cachetools import TTLCache
from django.conf import settings

from synthesis import audio, operations, speaker_embedding, storage
from synthesis.engines import get_engine
from synthesis.engines.base import VoiceProfile
from synthesis.models import Speaker


@dataclass(frozen=True)
class StoredProfile:
    profile: VoiceProfile
    embedding: np.ndarray  # the reference's speaker embedding, for similarity scores


class ProfileCache:
    def __init__(self, *, maxsize: int, ttl: float):
        self._cache: TTLCache = TTLCache(maxsize=maxsize, ttl=ttl)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key) -> StoredProfile | None:
        with self._lock:
            value = self._cache.get(key)
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
        operations.count_profile_cache(hit=value is not None)
        return value

    def put(self, key, value: StoredProfile) -> None:
        with self._lock:
            self._cache[key] = value

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self.hits = self.misses = 0

    def stats(self) -> dict:
        with self._lock:
            total = self.hits + self.misses
            return {
                "hits": self.hits,
                "misses": self.misses,
                "hit_rate": self.hits / total if total else None,
                "size": len(self._cache),
            }


cache = ProfileCache(maxsize=settings.PROFILE_CACHE_SIZE, ttl=settings.PROFILE_CACHE_TTL_SECONDS)


def extract(speaker: Speaker, *, model_id: str | None = None) -> StoredProfile:
    """The expensive step: analyse the reference with the voice's engine (and its model, or
    ``model_id``)."""
    engine = get_engine(speaker.engine)
    reference = audio.decode(
        storage.get(tenant=speaker.tenant, object_key=speaker.reference_key),
        max_seconds=settings.REFERENCE_MAX_SECONDS,
    )
    profile = engine.extract_profile(
        audio=reference.samples,
        sample_rate=reference.sample_rate,
        text=speaker.reference_text,
        language=speaker.language,
        model=model_id or (str(speaker.model_id) if speaker.model_id else None),
    )
    stored_embedding = profile.data.get("embedding")
    embedding = (
        np.asarray(stored_embedding, dtype=np.float32)
        if stored_embedding is not None
        else speaker_embedding.embed(reference.samples, reference.sample_rate)
    )
    return StoredProfile(profile=profile, embedding=embedding)


def serialise(stored: StoredProfile) -> bytes:
    return json.dumps(
        {"engine": stored.profile.engine, "data": stored.profile.data, "embedding": stored.embedding.tolist()}
    ).encode()


def deserialise(raw: bytes) -> StoredProfile:
    data = json.loads(raw)
    return StoredProfile(
        profile=VoiceProfile(engine=data["engine"], data=data["data"]),
        embedding=np.asarray(data["embedding"], dtype=np.float32),
    )


def load(speaker: Speaker) -> StoredProfile | None:
    """The voice's profile: from the cache, else from storage; None if never extracted for its engine."""
    engine_name = speaker.engine
    key = (speaker.id, speaker.profile_key)
    cached = cache.get(key)
    if cached is not None:
        return cached
    if not speaker.profile_key or speaker.profile_engine != engine_name:
        return None
    stored = deserialise(storage.get(tenant=speaker.tenant, object_key=speaker.profile_key))
    cache.put(key, stored)
    return stored


def for_model(speaker: Speaker, model_id: str) -> StoredProfile:
    """The voice's profile on another model than its own (an api_v2 client chose one with
    ``set_*_weights``): made from the reference on first use, then kept in this process's cache."""
    key = (speaker.id, speaker.profile_key, "model", str(model_id))
    cached = cache.get(key)
    if cached is None:
        cached = extract(speaker, model_id=str(model_id))
        cache.put(key, cached)
    return cached
