"""Streaming latency benchmark: time to the first audio byte and to the last, through the whole stack.

Starts the stack as ``make run`` does (``deploy.sandbox.live_stack``: Caddy, gunicorn,
uvicorn, the Dramatiq worker, embedded Redis) serving ``embedded,gpt-sovits``, uploads one
voice per engine, warms each engine up with one task (not counted), then sends each text
(``short``: one sentence; ``long``: ten sentences) through each streaming entry point, one
request at a time:

- ``tasks_stream``: ``POST /api/v1/tasks`` then ``GET /api/v1/tasks/{id}/stream`` (timed from the POST);
- ``tts_get`` / ``tts_post``: api_v2's ``/tts`` with ``streaming_mode`` (WAV);
- ``openai_wav``: ``POST /v1/audio/speech`` streaming WAV bytes;
- ``openai_sse``: the same with ``stream_format=sse`` (``speech.audio.delta`` events).

First byte: the first byte past the 44-byte WAV header (sent at once), or the first
``speech.audio.delta`` event. Total: the end of the response (the task is then DONE).
Reports the medians over ``--repeat`` runs and first / total; target (reported, not
asserted): on the embedded engine, for the long text, first byte < 0.25 x total on every
entry point.

GPT-SoVITS runs a tiny random model set by default (its audio is noise: the figures prove
the path, not real speed); real weights and a GPU come from the environment as for
``bench/gpt_sovits.py``: ``GPT_SOVITS_ASSETS_DIR``, ``GPT_SOVITS_BENCH_GPT``,
``GPT_SOVITS_BENCH_SOVITS``, ``GPT_SOVITS_DEVICE=cuda``.

On two CPU cores the embedded engine takes about two minutes (voice profile included);
GPT-SoVITS's tiny random models speak until their token limit, so its long text takes
minutes a request (15 min or more in all): ``--engines embedded`` or ``--quick`` skip it.
The load averages before and after are in ``machine``: other work on the cores skews every
figure. Prints JSON on stdout, progress on stderr. Run:
``.venv/bin/python bench/streaming.py [--repeat 3] [--engines embedded,gpt-sovits] [--quick]``.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EMBEDDED_VOICE = ROOT / "tests" / "fixtures" / "voices" / "1688-142285-0000.flac"
GPT_REFERENCE = ROOT / "tests" / "fixtures" / "voices" / "118-121721-0000.flac"
GPT_TRANSCRIPT = "The words spoken in the reference recording."  # as bench/gpt_sovits.py
TEXTS = {
    "short": "This is one short sentence, spoken to measure the first audio.",
    "long": " ".join(f"This is sentence number {n}, and it carries a few more words to speak." for n in range(1, 11)),
}
ENTRY_POINTS = ("tasks_stream", "tts_get", "tts_post", "openai_wav", "openai_sse")
WAV_HEADER = 44
TARGET_RATIO = 0.25
TIMEOUT = httpx.Timeout(600, connect=10)
TINY = "tiny random (noise): the figures prove the path, not real speed"


def _load() -> list[float]:
    """The 1, 5 and 15-minute load averages: other work on the cores skews every figure."""
    return [round(x, 2) for x in os.getloadavg()]


def _say(*parts) -> None:
    print("[streaming]", *parts, file=sys.stderr, flush=True)


def _gpt_models(workdir: Path) -> tuple[Path, Path, Path, str]:
    """(assets, gpt, sovits, kind): real weights from the environment, else a tiny random set."""
    gpt, sovits = os.environ.get("GPT_SOVITS_BENCH_GPT"), os.environ.get("GPT_SOVITS_BENCH_SOVITS")
    if gpt and sovits and os.environ.get("GPT_SOVITS_ASSETS_DIR"):
        return Path(os.environ["GPT_SOVITS_ASSETS_DIR"]), Path(gpt), Path(sovits), "real weights"
    from synthesis.engines.gpt_sovits import tiny

    made = tiny.write_model_set(workdir / "tiny", versions=("v2ProPlus",))
    pair = made["pairs"]["v2ProPlus"]
    return made["assets"], pair["gpt"], pair["sovits"], TINY


# --- One streamed request ---------------------------------------------------------------------------------------


class Failed(Exception):
    """A measurement that did not end in a whole stream (its status, its body's start)."""


def _checked(response: httpx.Response) -> None:
    if response.status_code != 200:
        raise Failed(f"HTTP {response.status_code}: {response.read()[:300]!r}")


def _read_wav(response: httpx.Response, began: float) -> dict:
    """First byte past the header and the end of a WAV stream; the audio's bytes and rate."""
    _checked(response)
    first, received = None, 0
    for chunk in response.iter_bytes():
        if first is None and received + len(chunk) > WAV_HEADER:
            first = time.perf_counter() - began
        received += len(chunk)
    total = time.perf_counter() - began
    if first is None:
        raise Failed(f"no audio past the header ({received} bytes)")
    return _figures(response, first, total, received)


def _figures(response: httpx.Response, first: float, total: float, received: int) -> dict:
    return {"first": first, "total": total, "pcm_bytes": received - WAV_HEADER,
            "rate": response.headers.get("X-Sample-Rate")}  # fmt: skip


def _read_sse(response: httpx.Response, began: float) -> dict:
    """First ``speech.audio.delta`` and the end of an SSE stream (which must say ``speech.audio.done``)."""
    _checked(response)
    first, received, done = None, 0, False
    for line in response.iter_lines():
        if not line.startswith("data: "):
            continue
        event = json.loads(line[6:])
        if event["type"] == "speech.audio.delta":
            if first is None:
                first = time.perf_counter() - began
            received += len(base64.b64decode(event["audio"]))
        elif event["type"] == "speech.audio.done":
            done = True
        elif event["type"] == "error":
            raise Failed(f"SSE error event: {event}")
    total = time.perf_counter() - began
    if first is None or not done:
        raise Failed(f"SSE ended without {'audio' if first is None else 'speech.audio.done'}")
    return _figures(response, first, total, received)  # the first delta carries the WAV header


def measure(client: httpx.Client, key: str, voice: str, text: str, entry: str) -> dict:
    """One request through ``entry``, timed from its start: first audio byte, end, audio bytes."""
    began = time.perf_counter()
    if entry == "tasks_stream":
        body = {"text": text, "speaker_id": voice, "language": "en", "output_format": "wav"}
        created = client.post("/api/v1/tasks", json=body, headers={"X-API-Key": key})
        if created.status_code != 202:
            raise Failed(f"create: HTTP {created.status_code}: {created.text[:300]}")
        with client.stream("GET", f"/api/v1/tasks/{created.json()['id']}/stream", headers={"X-API-Key": key}) as r:
            return _read_wav(r, began)
    tts = {"text": text, "text_lang": "en", "ref_audio_path": voice, "media_type": "wav"}
    if entry == "tts_get":
        with client.stream("GET", "/tts", params={**tts, "streaming_mode": "true"}, headers={"X-API-Key": key}) as r:
            return _read_wav(r, began)
    if entry == "tts_post":
        with client.stream("POST", "/tts", json={**tts, "streaming_mode": 1}, headers={"X-API-Key": key}) as r:
            return _read_wav(r, began)
    speech = {"model": "tts-1", "voice": voice, "input": text, "response_format": "wav"}
    bearer = {"Authorization": f"Bearer {key}"}
    if entry == "openai_wav":
        with client.stream("POST", "/v1/audio/speech", json=speech, headers=bearer) as r:
            return _read_wav(r, began)
    with client.stream("POST", "/v1/audio/speech", json={**speech, "stream_format": "sse"}, headers=bearer) as r:
        return _read_sse(r, began)


def summary(runs: list[dict], errors: list[str]) -> dict:
    """Medians over the runs that streamed whole, and the errors of those that did not."""
    figures: dict = {"runs": len(runs)}
    if runs:
        first = statistics.median(run["first"] for run in runs)
        total = statistics.median(run["total"] for run in runs)
        rate = int(runs[0]["rate"] or 0)
        audio = statistics.median(run["pcm_bytes"] for run in runs) / 2 / rate if rate else None
        figures |= {
            "first_byte_s": round(first, 3),
            "total_s": round(total, 3),
            "first_over_total": round(first / total, 3),
            "first_byte_s_runs": [round(run["first"], 3) for run in runs],
            "total_s_runs": [round(run["total"], 3) for run in runs],
            "audio_s": round(audio, 2) if audio is not None else None,
            "sample_rate": rate or None,
        }
    if errors:
        figures["errors"] = errors
    return figures


# --- The stack ---------------------------------------------------------------------------------------------------


def _upload(client: httpx.Client, path: Path, **fields: str) -> str:
    with open(path, "rb") as fh:
        response = client.post("/api/v1/speakers", data={"language": "en", **fields},
                               files={"audio": (path.name, fh, "audio/flac")})  # fmt: skip
    if response.status_code != 201:
        raise RuntimeError(f"voice upload ({fields}): HTTP {response.status_code}: {response.text[:500]}")
    return response.json()["id"]


def _ready(client: httpx.Client, voice: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while (body := client.get(f"/api/v1/speakers/{voice}").json())["status"] == "PROCESSING":
        if time.monotonic() > deadline:
            raise RuntimeError(f"voice {voice} still PROCESSING after {timeout:.0f} s")
        time.sleep(1)
    if body["status"] != "READY":
        raise RuntimeError(f"voice {voice}: {body['status']} {body.get('error')}")


def run(args, workdir: Path) -> dict:
    from deploy.sandbox import live_stack

    settings = dict(SYNTHESIS_ENGINES=",".join(args.engines), QUOTA_REQUESTS_PER_MINUTE="100000",
                    QUOTA_CONCURRENT_TASKS="100000")  # fmt: skip
    report: dict = {}
    if "gpt-sovits" in args.engines:
        assets, gpt, sovits, kind = _gpt_models(workdir)
        device = os.environ.get("GPT_SOVITS_DEVICE", "cpu")
        settings |= dict(GPT_SOVITS_ASSETS_DIR=str(assets), GPT_SOVITS_DEVICE=device)
        report |= {"gpt_sovits_models": kind, "gpt_sovits_device": device}
    _say("starting the stack in", workdir)
    with live_stack(workdir / "stack", **settings) as live:
        if "gpt-sovits" in args.engines:
            live.manage("addmodel", "bench", "--gpt", str(gpt), "--sovits", str(sovits), "--default")
        live.manage("createtenant", "acme", "--owner", "alice", "--password", "alice-password-1", "--accept-dpa")
        key = live.manage("createapikey", "--tenant", "acme").strip().splitlines()[-1]
        with httpx.Client(base_url=live.base, headers={"X-API-Key": key}, timeout=60) as api:
            voices = {}
            if "embedded" in args.engines:
                voices["embedded"] = _upload(api, EMBEDDED_VOICE, name="bench-embedded")
            if "gpt-sovits" in args.engines:
                voices["gpt-sovits"] = _upload(api, GPT_REFERENCE, name="bench-gpt", engine="gpt-sovits",
                                               reference_text=GPT_TRANSCRIPT)  # fmt: skip
            started = time.monotonic()
            for voice in voices.values():
                _ready(api, voice)
            _say(f"voices READY after {time.monotonic() - started:.0f} s: {voices}")
        with httpx.Client(base_url=live.base, timeout=TIMEOUT) as client:  # no default key: each entry point its own
            engines = {}
            for engine, voice in voices.items():
                warm = measure(client, key, voice, TEXTS["short"], "tasks_stream")  # not counted
                _say(f"{engine}: warmed up ({warm['total']:.2f} s)")
                engines[engine] = {}
                for name, text in TEXTS.items():
                    runs: dict[str, list] = {entry: [] for entry in ENTRY_POINTS}
                    errors: dict[str, list] = {entry: [] for entry in ENTRY_POINTS}
                    for repeat in range(args.repeat):  # the entry points in turn, so drift hits them alike
                        for entry in ENTRY_POINTS:
                            try:
                                runs[entry].append(one := measure(client, key, voice, text, entry))
                                _say(f"{engine} {name} {entry} #{repeat + 1}: first {one['first']:.3f} s, "
                                     f"total {one['total']:.3f} s")  # fmt: skip
                            except (Failed, httpx.HTTPError) as exc:
                                errors[entry].append(f"{type(exc).__name__}: {exc}")
                                _say(f"{engine} {name} {entry} #{repeat + 1}: FAILED {exc}")
                    engines[engine][name] = {entry: summary(runs[entry], errors[entry]) for entry in ENTRY_POINTS}
    return report | {"engines": engines}


def targets(engines: dict) -> dict:
    """Embedded engine, long text: first byte under TARGET_RATIO of the total on each entry point."""
    found = {}
    for entry, figures in engines.get("embedded", {}).get("long", {}).items():
        ratio = figures.get("first_over_total")
        found[entry] = {"first_over_total": ratio, "met": ratio is not None and ratio < TARGET_RATIO}
    return {"embedded_long_first_over_total_below": TARGET_RATIO, "entry_points": found,
            "met": bool(found) and all(t["met"] for t in found.values())}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each text through each entry point")
    parser.add_argument("--engines", default="embedded,gpt-sovits", help="comma-separated: embedded, gpt-sovits")
    parser.add_argument("--quick", action="store_true", help="one run each, embedded only")
    args = parser.parse_args()
    wanted = {e.strip() for e in args.engines.split(",") if e.strip()}
    args.engines = [e for e in ("embedded", "gpt-sovits") if e in wanted]  # the first: the stack's default
    if args.quick:
        args.repeat, args.engines = 1, [e for e in args.engines if e != "gpt-sovits"]
    unknown = wanted - {"embedded", "gpt-sovits"}
    if unknown or not args.engines:
        parser.error(f"--engines: unknown or none: {sorted(unknown)}")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request (the G2P's setup logs INFO)
    workdir = Path(tempfile.mkdtemp(prefix="sovits-streaming-bench-"))
    began, load_before = time.monotonic(), _load()
    measured = run(args, workdir)
    report = {
        "machine": {"cpu_count": os.cpu_count(), "load_average_before": load_before, "load_average_after": _load()},
        "repeat": args.repeat,
        "texts": {name: {"sentences": text.count("."), "characters": len(text)} for name, text in TEXTS.items()},
        **measured,
        "targets": targets(measured["engines"]),
        "bench_seconds": round(time.monotonic() - began, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
