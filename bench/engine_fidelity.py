"""Benchmark of the embedded engine: voice fidelity, speed and profile caching.

Prints one JSON object. Run: ``make bench`` (or ``.venv/bin/python bench/engine_fidelity.py``).

- similarity: Resemblyzer cosine between the reference voice and speech made for
  it, over the same texts, adapted (the engine) and unadapted (eSpeak NG's default
  English voice), for every LibriSpeech clip of 3 s or more;
- rtf: synthesis seconds per second of audio, pinned to one core;
- profile extraction seconds per voice;
- the time a task waits for its voice profile before synthesis can start:
  from the worker's memory cache, from the encrypted store, or extracted inline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sovits_site.settings.base")
os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="sovits-bench-")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")  # never contacted

TEXTS = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "She sells sea shells by the sea shore, and the shells she sells are surely seashells.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "It was a bright cold day in April, and the clocks were striking thirteen.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", default=str(ROOT.parent / "shared" / "voices" / "librispeech"))
    parser.add_argument("--min-seconds", type=float, default=3.0)
    parser.add_argument("--limit", type=int, default=0, help="only the first N voices (0: all)")
    args = parser.parse_args()

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    import torch

    torch.set_num_threads(1)
    import django

    django.setup()
    import numpy as np
    import soundfile as sf

    from synthesis import profiles, speaker_embedding, storage
    from synthesis.engines import get_engine
    from synthesis.engines.base import SynthesisRequest
    from synthesis.engines.embedded import espeak
    from synthesis.models import Speaker
    from tenants import keys
    from tenants.models import Tenant

    clips = sorted(p for p in Path(args.voices).glob("*.flac") if sf.info(p).duration >= args.min_seconds)
    if args.limit:
        clips = clips[: args.limit]
    if not clips:
        raise SystemExit(f"no clips of {args.min_seconds} s or more in {args.voices}")

    engine = get_engine()
    es = espeak.get()
    tenant_id = uuid.uuid4()
    tenant = Tenant(id=tenant_id, slug="bench", wrapped_data_key=keys.new_wrapped_data_key(str(tenant_id)))
    warm_samples, warm_rate = sf.read(clips[0], dtype="float32")
    warm = engine.extract_profile(audio=warm_samples, sample_rate=warm_rate, text="", language="en")
    engine.synthesize([SynthesisRequest(text="Warm up.", language="en", profile=warm)])

    per_voice, synth_seconds, audio_seconds = [], 0.0, 0.0
    extract_seconds, waits = [], {"memory_cache": [], "encrypted_store": [], "inline_extraction": []}
    for clip in clips:
        samples, rate = sf.read(clip, dtype="float32")
        reference = speaker_embedding.embed(samples, rate)
        reference_key = storage.put(tenant=tenant, kind="references", data=clip.read_bytes())
        speaker = Speaker(id=uuid.uuid4(), tenant=tenant, language="en", reference_text="", reference_key=reference_key)

        started = time.perf_counter()
        stored = profiles.extract(speaker)  # what a task without a stored profile waits for
        extract_seconds.append(time.perf_counter() - started)
        waits["inline_extraction"].append(extract_seconds[-1])
        speaker.profile_key = storage.put(tenant=tenant, kind="profiles", data=profiles.serialise(stored))
        speaker.profile_engine = stored.profile.engine
        profiles.cache.clear()
        started = time.perf_counter()
        profiles.load(speaker)  # not in this worker's memory: decrypt and parse the stored profile
        waits["encrypted_store"].append(time.perf_counter() - started)
        started = time.perf_counter()
        profiles.load(speaker)  # in memory
        waits["memory_cache"].append(time.perf_counter() - started)

        adapted, plain = [], []
        for text in TEXTS:
            started = time.perf_counter()
            [result] = engine.synthesize([SynthesisRequest(text=text, language="en", profile=stored.profile)])
            synth_seconds += time.perf_counter() - started
            audio_seconds += result.duration
            output = speaker_embedding.embed(result.audio, result.sample_rate)
            adapted.append(speaker_embedding.cosine(reference, output))
            default = es.synthesize(text, voice="en-us").astype(np.float32) / 32768
            plain.append(speaker_embedding.cosine(reference, speaker_embedding.embed(default, es.sample_rate)))
        per_voice.append({
            "voice": clip.name,
            "adapted": round(statistics.mean(adapted), 4),
            "unadapted": round(statistics.mean(plain), 4),
            "base_variant": stored.profile.data["base_variant"] or "default",
            "warp": stored.profile.data["warp"],
            "pitch_median_hz": round(stored.profile.data["pitch_median_hz"], 1),
        })  # fmt: skip
        print(f"{clip.name}: {per_voice[-1]}", file=sys.stderr, flush=True)

    adapted_means = [v["adapted"] for v in per_voice]
    plain_means = [v["unadapted"] for v in per_voice]
    median_wait = {k: statistics.median(v) for k, v in waits.items()}
    print(json.dumps({
        "voices": len(per_voice),
        "texts_per_voice": len(TEXTS),
        "similarity": {
            "adapted": {"mean": round(statistics.mean(adapted_means), 4), "min": round(min(adapted_means), 4)},
            "unadapted": {"mean": round(statistics.mean(plain_means), 4), "min": round(min(plain_means), 4)},
            "mean_gain": round(statistics.mean(adapted_means) - statistics.mean(plain_means), 4),
        },
        "rtf_one_core": round(synth_seconds / audio_seconds, 4),
        "profile_extraction_seconds": {"mean": round(statistics.mean(extract_seconds), 2),
                                       "max": round(max(extract_seconds), 2)},
        "profile_wait_ms_median": {k: round(v * 1000, 3) for k, v in median_wait.items()},
        "cached_vs_uncached_speedup": {
            "vs_encrypted_store": round(median_wait["encrypted_store"] / median_wait["memory_cache"], 1),
            "vs_inline_extraction": round(median_wait["inline_extraction"] / median_wait["memory_cache"], 1),
        },
        "per_voice": per_voice,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
