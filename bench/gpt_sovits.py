"""GPT-SoVITS benchmark: the engine alone, then the same texts through the whole stack.

1. gsv-tts-lite called directly, as its README shows (``TTS``, ``load_*_model``,
   ``infer`` / ``infer_stream`` on a reference file): real-time factor, time to the
   first streamed audio, tasks per second over the texts, peak memory.
2. The stack as ``make run`` starts it (API, Dramatiq worker with one thread, encrypted
   storage), serving ``embedded,gpt-sovits``: the same texts as tasks of one voice,
   tasks per second from the first create to the last DONE.

Prints JSON with the ratio stack / direct (target: at least 0.9 on a GPU with real
weights; the similarity score and encoding cost the stack a fixed share per task).
By default it builds a tiny random model set (its audio is noise: the figures prove
the path, not real speed); real weights and a GPU come from the environment:
``GPT_SOVITS_ASSETS_DIR``, ``GPT_SOVITS_BENCH_GPT``, ``GPT_SOVITS_BENCH_SOVITS``,
``GPT_SOVITS_DEVICE=cuda``. Run: ``.venv/bin/python bench/gpt_sovits.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import httpx
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REFERENCE = ROOT / "tests" / "fixtures" / "voices" / "118-121721-0000.flac"
TRANSCRIPT = "The words spoken in the reference recording."
TEXTS = [
    "Hello world. This is a test of the voice platform.",
    "The quick brown fox jumps over the lazy dog, twice.",
    "Good morning. Today we speak about three things.",
    "One, two, three. And that is the end of it.",
]


def _models(workdir: Path) -> tuple[Path, Path, Path, str]:
    gpt, sovits = os.environ.get("GPT_SOVITS_BENCH_GPT"), os.environ.get("GPT_SOVITS_BENCH_SOVITS")
    if gpt and sovits and os.environ.get("GPT_SOVITS_ASSETS_DIR"):
        return Path(os.environ["GPT_SOVITS_ASSETS_DIR"]), Path(gpt), Path(sovits), "real"
    from synthesis.engines.gpt_sovits import tiny

    made = tiny.write_model_set(workdir / "tiny", versions=("v2ProPlus",))
    pair = made["pairs"]["v2ProPlus"]
    return made["assets"], pair["gpt"], pair["sovits"], "tiny random (noise)"


def _peak_memory_mb(device: str) -> float:
    import torch

    if device.startswith("cuda"):
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def direct(assets: Path, gpt: Path, sovits: Path, device: str, workdir: Path, rounds: int) -> dict:
    """The library on its own: the figures the stack is compared with."""
    from synthesis.engines.gpt_sovits.library import prepare

    prepare()
    import torch
    from gsv_tts import TTS

    reference = workdir / "reference.wav"
    samples, rate = sf.read(REFERENCE, dtype="float32")
    sf.write(reference, samples, rate)
    tts = TTS(models_dir=str(assets), device=device, use_bert=False, always_load_cnhubert=True, always_load_sv=True)
    tts.load_gpt_model(str(gpt))
    tts.load_sovits_model(str(sovits))
    voice = dict(spk_audio_path=str(reference), prompt_audio_path=str(reference), prompt_audio_text=TRANSCRIPT,
                 prompt_language="en", text_language="en")  # fmt: skip
    tts.infer(text="Warm up.", **voice)
    token_first = []
    for text in TEXTS:  # the library's default stream: audio every 25 tokens
        began = time.perf_counter()
        next(iter(tts.infer_stream(text=text, debug=False, **voice)))
        token_first.append(time.perf_counter() - began)
    first_audio, synth_seconds, audio_seconds = [], 0.0, 0.0
    started = time.perf_counter()
    for _ in range(rounds):
        for text in TEXTS:
            torch.manual_seed(0)
            began = time.perf_counter()
            # What a task does in the engine: the sentence-mode stream.
            for index, clip in enumerate(tts.infer_stream(text=text, stream_mode="sentence", debug=False, **voice)):
                if index == 0:
                    first_audio.append(time.perf_counter() - began)
                audio_seconds += len(clip.audio_data) / clip.samplerate
            synth_seconds += time.perf_counter() - began
    elapsed = time.perf_counter() - started
    return {
        "audio_seconds_per_second": round(audio_seconds / elapsed, 3),
        "tasks": rounds * len(TEXTS),
        "tasks_per_second": round(rounds * len(TEXTS) / elapsed, 3),
        "real_time_factor": round(synth_seconds / audio_seconds, 4),
        "first_audio_seconds_median": {
            "sentence_mode": round(sorted(first_audio)[len(first_audio) // 2], 3),
            "token_mode": round(sorted(token_first)[len(token_first) // 2], 3),
        },
        "audio_seconds": round(audio_seconds, 1),
        "peak_memory_mb": _peak_memory_mb(device),
    }


def through_stack(assets: Path, gpt: Path, sovits: Path, device: str, workdir: Path, rounds: int) -> dict:
    from deploy.sandbox import live_stack

    settings = dict(
        SYNTHESIS_ENGINES="embedded,gpt-sovits", GPT_SOVITS_ASSETS_DIR=str(assets), GPT_SOVITS_DEVICE=device,
        WORKER_THREADS="1", EMBEDDED_VARIANTS=",f3", QUOTA_REQUESTS_PER_MINUTE="100000",
        QUOTA_CONCURRENT_TASKS="100000",
    )  # fmt: skip
    with live_stack(workdir / "stack", **settings) as stack:
        stack.manage("addmodel", "bench", "--gpt", str(gpt), "--sovits", str(sovits), "--default")
        stack.manage("createtenant", "bench", "--owner", "bench", "--password", "bench-password-1", "--accept-dpa")
        key = stack.manage("createapikey", "--tenant", "bench").strip().splitlines()[-1]
        api = httpx.Client(base_url=stack.base, headers={"X-API-Key": key}, timeout=60)
        with open(REFERENCE, "rb") as fh:
            voice = api.post(
                "/api/v1/speakers",
                data={"name": "bench", "language": "en", "engine": "gpt-sovits", "reference_text": TRANSCRIPT},
                files={"audio": ("v.flac", fh)},
            ).json()["id"]
        while (status := api.get(f"/api/v1/speakers/{voice}").json()["status"]) == "PROCESSING":
            time.sleep(0.2)
        assert status == "READY", status
        _finish(api, [_create(api, {"text": "Warm up.", "speaker_id": voice, "language": "en"})])
        bodies = [{"text": t, "speaker_id": voice, "language": "en", "params": {"seed": 0}} for t in TEXTS] * rounds
        started = time.perf_counter()
        statuses = _finish(api, [_create(api, body) for body in bodies])
        elapsed = time.perf_counter() - started
        audio = sum(api.get(f"/api/v1/tasks/{task_id}").json()["duration_seconds"] or 0 for task_id in statuses)
    return {
        "tasks": len(statuses),
        "done": sum(s == "DONE" for s in statuses.values()),
        "tasks_per_second": round(len(statuses) / elapsed, 3),
        "audio_seconds": round(audio, 1),
        "audio_seconds_per_second": round(audio / elapsed, 3),
    }


def _create(api: httpx.Client, body: dict) -> str:
    response = api.post("/api/v1/tasks", json=body)
    response.raise_for_status()
    return response.json()["id"]


def _finish(api: httpx.Client, ids: list[str]) -> dict[str, str]:
    """Wait until every task has ended (in the order queued, a few requests a second: polling
    must not take the cores the worker needs); their final statuses."""
    statuses: dict[str, str] = {}
    for task_id in ids:
        while (status := api.get(f"/api/v1/tasks/{task_id}").json()["status"]) not in ("DONE", "FAILED", "CANCELLED"):
            time.sleep(0.2)
        statuses[task_id] = status
    return statuses


def _engine(assets: Path, sources: dict, device: str, **options):
    from synthesis.engines.gpt_sovits.engine import GptSovitsEngine

    return GptSovitsEngine(assets_dir=assets, resolve_model=sources.__getitem__, device=device, **options)


def _profile(engine, model_id: str):
    samples, rate = sf.read(REFERENCE, dtype="float32")
    return engine.extract_profile(audio=samples, sample_rate=rate, text=TRANSCRIPT, language="en", model=model_id)


def batching(assets: Path, gpt: Path, sovits: Path, device: str, tasks: int) -> dict:
    """``tasks`` requests handed in at once by as many threads (each a worker thread holding its
    task), with batches of at most 1 (one at a time), 4, 8 and 16."""
    import threading

    import torch

    from synthesis.engines.base import SynthesisRequest
    from synthesis.engines.gpt_sovits.engine import ModelSource

    sources = {"bench": ModelSource(gpt=gpt, sovits=sovits)}
    figures = {}
    for size in (1, 4, 8, 16):
        engine = _engine(assets, sources, device, max_batch=size, batch_window_ms=50)
        profile = _profile(engine, "bench")
        requests = [SynthesisRequest(text=TEXTS[i % len(TEXTS)], language="en", profile=profile) for i in range(tasks)]
        engine.synthesize(requests[:1])  # warm up
        torch.manual_seed(0)
        calls, audio = engine.calls, []
        threads = [threading.Thread(target=_speak, args=(engine, r, audio)) for r in requests]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        seconds = sum(getattr(result, "duration", 0.0) for result in audio)
        figures[f"batch_{size}"] = {
            "tasks_per_second": round(tasks / elapsed, 3),
            "audio_seconds_per_second": round(seconds / elapsed, 3),
            "engine_calls": engine.calls - calls,
            "failed": sum(isinstance(result, Exception) for result in audio),
        }
    return figures


def _speak(engine, request, results: list) -> None:
    """One worker thread: its task's request into the engine (and its batcher)."""
    results.append(engine.synthesize([request])[0])


def memory(assets: Path, sovits: Path, device: str, workdir: Path, tasks: int) -> dict:
    """Resident memory after 10 and after ``tasks`` short tasks spread over 5 models, with a
    budget that holds 2: models are loaded and unloaded all along."""
    import gc

    import psutil

    from synthesis.engines.base import SynthesisRequest
    from synthesis.engines.gpt_sovits import tiny
    from synthesis.engines.gpt_sovits.engine import ModelSource

    sources = {}
    for index in range(5):  # quick-stopping GPTs: short tasks, so that many fit in a benchmark
        gpt = tiny.write_gpt(workdir / f"quick-{index}.ckpt", seed=index, quick_stop=True)
        sources[f"model-{index}"] = ModelSource(gpt=gpt, sovits=sovits)
    probe = _engine(assets, sources, device)
    sizes = []
    for model_id in sources:
        probe.load_model(model_id)
        sizes.append(probe.loaded_models()[model_id])
    del probe
    gc.collect()
    engine = _engine(assets, sources, device, memory_budget_mb=int(2.5 * max(sizes) / 2**20) + 1)
    profiles = [_profile(engine, model_id) for model_id in sources]
    process = psutil.Process()
    marks = {}
    for done in range(1, tasks + 1):
        profile = profiles[done % len(profiles)]
        result = engine.synthesize([SynthesisRequest(text="Hello world.", language="en", profile=profile)])[0]
        assert not isinstance(result, Exception), result
        if done in (10, tasks):
            gc.collect()
            marks[done] = process.memory_info().rss / 2**20
    return {
        "models": len(sources),
        "pairs_held_at_most": engine.peak_models,
        "rss_mb_after_10_tasks": round(marks[10], 1),
        f"rss_mb_after_{tasks}_tasks": round(marks[tasks], 1),
        "growth_mb": round(marks[tasks] - marks[10], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="times each text is spoken")
    parser.add_argument("--batch-tasks", type=int, default=16, help="tasks handed in at once for the batching figures")
    parser.add_argument("--memory-tasks", type=int, default=1000, help="tasks across 5 models for the memory figure")
    parser.add_argument("--only", choices=("stack", "batching", "memory"), help="one part alone")
    args = parser.parse_args()
    device = os.environ.get("GPT_SOVITS_DEVICE", "cpu")
    workdir = Path(tempfile.mkdtemp(prefix="sovits-gpt-bench-"))
    assets, gpt, sovits, kind = _models(workdir)
    report: dict = {"models": kind, "device": device}
    if args.only in (None, "stack"):
        alone = direct(assets, gpt, sovits, device, workdir, args.rounds)
        print(json.dumps({"gsv_tts_lite_direct": alone}), file=sys.stderr)
        stack = through_stack(assets, gpt, sovits, device, workdir, args.rounds)
        report |= {
            "texts": len(TEXTS),
            "gsv_tts_lite_direct": alone,
            "through_stack": stack,
            "stack_over_direct_tasks_per_second": round(stack["tasks_per_second"] / alone["tasks_per_second"], 3),
            # Random weights stop at random lengths: audio made per second is the fairer ratio.
            "stack_over_direct_audio_per_second": round(
                stack["audio_seconds_per_second"] / alone["audio_seconds_per_second"], 3
            ),
            "target_ratio": 0.9,
        }
    if args.only in (None, "batching"):
        report["batched_across_tasks"] = batching(assets, gpt, sovits, device, args.batch_tasks)
    if args.only in (None, "memory"):
        report["memory"] = memory(assets, sovits, device, workdir, args.memory_tasks)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
