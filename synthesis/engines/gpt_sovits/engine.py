"""The GPT-SoVITS engine, on gsv-tts-lite (pinned: it reaches into the library's caches).

One instance per worker process owns the models. The library is not thread-safe, so
every call holds one lock. Its caches are dicts keyed by whatever it is given (file
paths, upstream); here they only ever hold opaque keys: ``gpt:<model id>``,
``sovits:<model id>`` and ``voice:<digest of the stored profile>``, filled from
checkpoints read safely (``formats``) and from profiles decrypted by the worker, and
evicted least recently used. No reference audio or model is ever read from a path
the library chooses, and nothing is downloaded.

A voice's profile is what the library caches per reference (``cache_spk_audio`` and
``cache_prompt_audio``): the prompt's semantic tokens, phones and BERT features, and
the timbre (``ge``, from the voice's own SoVITS model, and the speaker-verification
embedding). It is computed once at upload, stored encrypted, and put back into the
library's caches under its digest when a task needs it.
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import io
import logging
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from synthesis.engines.base import (
    AudioCallback,
    AudioChunk,
    EngineError,
    ModelTooLarge,
    ModelUnavailable,
    ProgressCallback,
    ReferenceUnusable,
    SynthesisRequest,
    SynthesisResult,
    UnsupportedLanguage,
    VoiceProfile,
    WordTiming,
    synthesize_by_streaming,
)
from synthesis.engines.gpt_sovits import assets, formats, loading
from synthesis.engines.gpt_sovits.batching import Batcher, Job
from synthesis.engines.gpt_sovits.library import prepare
from synthesis.engines.words import fill_gaps

logger = logging.getLogger(__name__)

SAMPLE_RATE = 32000
LANGUAGES = frozenset({"en", "zh", "ja"})
# Parameters a task may set, with the library's defaults and the allowed range.
PARAMETERS = {
    "speed": (1.0, 0.5, 2.0),
    "top_k": (15, 1, 100),
    "top_p": (1.0, 0.01, 1.0),
    "temperature": (1.0, 0.01, 2.0),
    "repetition_penalty": (1.35, 1.0, 2.0),
}


@dataclass(frozen=True)
class ModelSource:
    """Where a registered model pair's files are; ``gpt``/``sovits`` are paths or the bytes themselves."""

    gpt: str | Path | bytes
    sovits: str | Path | bytes


@dataclass(frozen=True)
class _LoadedPair:
    keys: tuple[str, str]  # the library's keys for its GPT and SoVITS models
    bytes: int


@dataclass(frozen=True)
class _Reference:
    """Decoded reference audio handed to the library where it expects a file path."""

    samples: np.ndarray
    sample_rate: int


_LIBRARY_ERRORS = (RuntimeError, ValueError, IndexError, AssertionError, KeyError)


def _return_freed_memory() -> None:
    """Give an unloaded model's memory back to the system. glibc keeps freed heap memory (and
    raises its mmap threshold after large frees), so a worker cycling through models would
    otherwise grow with every load; ``malloc_trim`` returns what is free."""
    with suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _words(clip, text: str, *, until: float, cursor: int = 0) -> tuple[WordTiming, ...]:
    """The library's word timestamps for ``clip`` (spans in ``text``, the request's text, at or
    after ``cursor``), without its punctuation marks and kept inside the audio made so far
    (``until``). The library finds each word's span by searching from the previous word's
    start, so "is" after "This" lands inside "This": such a span is searched again from the
    previous word's end."""
    words = []
    lowered = text.lower()
    for subtitle in clip.subtitles or ():
        first = max(0, min(len(text), int(subtitle.get("orig_idx_start", -1))))
        end = max(first, min(len(text), int(subtitle.get("orig_idx_end", -1))))
        if first < cursor:
            found = lowered.find(str(subtitle.get("text", "")).lower(), cursor)
            if found < 0 or not subtitle.get("text"):
                continue
            first, end = found, found + len(subtitle["text"])
        if not any(ch.isalnum() for ch in text[first:end]):
            continue
        start = min(until, max(0.0, float(subtitle["start_s"])))
        stop = subtitle.get("end_s")
        stop = until if stop is None else min(until, max(start, float(stop)))
        words.append(WordTiming(start, stop, first, end))
        cursor = end
    return tuple(words)


def _timed(clip, request_text: str, *, text: tuple[int, int], seconds: tuple[float, float]):
    """Every word of ``request_text[text[0]:text[1]]``, which ``clip`` speaks between
    ``seconds``: the library's timings, and estimates for the words it left out."""
    first, limit = text[0], max(text[0], min(len(request_text), text[1]))
    words = _words(clip, request_text, until=seconds[1], cursor=first)
    return fill_gaps(request_text, words, text_start=first, text_end=limit, time_start=seconds[0], time_end=seconds[1])


def _audio(clip) -> np.ndarray:
    audio = np.asarray(clip.audio_data, dtype=np.float32)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    return audio / peak if peak > 1.0 else audio


@dataclass(frozen=True)
class _Item:
    """A request in the batcher, with its owner's progress callback and its place in the owner's call."""

    index: int
    request: SynthesisRequest
    on_progress: ProgressCallback | None
    on_audio: AudioCallback | None = None

    def report(self, fraction: float) -> None:
        if self.on_progress:
            self.on_progress(self.index, fraction)

    def deliver(self, chunk: AudioChunk) -> None:
        if self.on_audio:
            self.on_audio(self.index, chunk)

    def forward(self, _index: int, fraction: float) -> None:
        self.report(fraction)

    def forward_audio(self, _index: int, chunk: AudioChunk) -> None:
        self.deliver(chunk)


def voice_key(profile: VoiceProfile) -> str:
    """The opaque key a voice's profile has in the library's caches: made from its content."""
    data = profile.data
    return "voice:" + hashlib.sha256(f"{data['model_id']}\0{data['tensors']}".encode()).hexdigest()[:32]


def _batch_key(request: SynthesisRequest) -> tuple:
    """Requests with equal keys may share a call: one model pair, one set of sampling settings.
    A seeded request runs alone (a batch shares one random stream)."""
    params = request.params
    settings = tuple(_sampling(params).values())
    return (request.profile.data.get("model_id"), settings, object() if "seed" in params else None)


def _sampling(params) -> dict:
    """The library's sampling arguments for a task's ``params``, each within its range."""
    return {name: _clamped(params, name) for name in PARAMETERS}


def _clamped(params, name):
    default, low, high = PARAMETERS[name]
    value = params.get(name, default)
    return type(default)(min(high, max(low, float(value))))


class GptSovitsEngine:
    name: ClassVar[str] = "gpt-sovits"
    languages: ClassVar[frozenset[str]] = LANGUAGES

    def __init__(
        self,
        *,
        assets_dir: str | Path,
        resolve_model: Callable[[str], ModelSource],
        device: str = "cpu",
        half: bool | None = None,
        memory_budget_mb: int = 0,
        max_profiles: int = 256,
        max_batch: int = 8,
        batch_window_ms: float = 20,
    ):
        root = assets.require(assets_dir)
        prepare()
        import torch
        from gsv_tts import TTS
        from gsv_tts.GPT_SoVITS.Featurizer import CNHubert, CNRoberta
        from gsv_tts.GPT_SoVITS.SV import ERes2Net

        self._torch = torch
        half = device.startswith("cuda") if half is None else half
        self._tts = TTS(
            gpt_cache=list(loading.GPT_CACHE_BUCKETS),
            models_dir=str(root),
            device=device,
            dtype="float16" if half else "float32",
            use_bert=False,  # with True it downloads a BERT on CPU; attached below from the assets instead
            always_load_cnhubert=True,
            always_load_sv=True,
        )
        config = self._tts.tts_config
        self.device, self.dtype = config.device, config.dtype
        self._tts._load_audio = self._load_audio  # references come decoded from the worker, never from a path
        try:
            self._tts.cnhubert_model = CNHubert(self._tts.cnhubert_path, config)
            formats.check_state_dict(root / assets.SV_CHECKPOINT, "speaker-verification")
            self._tts.sv_model = ERes2Net(self._tts.sv_path, config)
            if (root / assets.BERT_FOLDER).is_dir():
                config.cnroberta = CNRoberta(root / assets.BERT_FOLDER, config)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            problem = assets.Problem(root, f"an asset does not load ({type(exc).__name__}: {exc})", "")
            raise assets.AssetsMissing([problem]) from exc
        self._resolve_model = resolve_model
        self.memory_budget = memory_budget_mb * 2**20  # bytes; 0: no budget
        self._max_profiles = max(1, max_profiles)
        self._models: OrderedDict[str, _LoadedPair] = OrderedDict()
        self.peak_models = 0  # most pairs held at once, for tests and benchmarks
        self._profiles: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.RLock()
        self._batcher = Batcher(self._run_batch, max_batch=max_batch, window=batch_window_ms / 1000)
        self.calls = 0  # library inference calls made
        self.spoken: deque[tuple[str, str]] = deque(maxlen=1000)  # (text, voice key) of recent requests

    @contextmanager
    def _cpu_threads(self):
        """On CPU, a call uses every core: calls are serialised anyway, and the worker sets torch to
        one thread for the small models it runs beside engines (speaker embeddings)."""
        if self.device.type != "cpu":
            yield
            return
        previous = self._torch.get_num_threads()
        self._torch.set_num_threads(os.cpu_count() or 1)
        try:
            yield
        finally:
            self._torch.set_num_threads(previous)

    # -- models ---------------------------------------------------------------------------

    def _load_audio(self, source):
        if isinstance(source, _Reference):
            return self._torch.from_numpy(source.samples.astype(np.float32)[None, :].copy()), source.sample_rate
        raise TypeError("the engine only reads references handed to it decoded")

    def loaded_models(self) -> dict[str, int]:
        """The pairs held now (least recently used first), with the bytes each takes."""
        with self._lock:
            return {model_id: pair.bytes for model_id, pair in self._models.items()}

    def load_model(self, model_id: str) -> tuple[str, str]:
        """The library's keys for the model pair ``model_id``, loading it if needed.

        The pool holds pairs under ``memory_budget``: a pair's size is estimated from its
        checkpoints before loading (weights at the runtime precision and the GPT's KV cache),
        the least recently used pairs are unloaded until it fits, and its real footprint is
        measured once loaded. A pair larger than the whole budget is refused (``ModelTooLarge``)
        rather than loaded into an out-of-memory crash.
        """
        model_id = str(model_id)
        with self._lock:
            if model_id in self._models:
                self._models.move_to_end(model_id)
                return self._models[model_id].keys
            config = self._tts.tts_config
            try:
                source = self._resolve_model(model_id)
                gpt = formats.read_gpt(source.gpt)
                sovits = formats.read_sovits(source.sovits)
            except Exception as exc:
                logger.warning("model %s failed to load: %s", model_id, exc)
                raise ModelUnavailable(model_id, exc) from exc
            needed = loading.estimated_bytes(gpt, sovits, dtype=self.dtype, gpt_caches=config.gpt_cache)
            if self.memory_budget and needed > self.memory_budget:
                raise ModelTooLarge(model_id, needed, self.memory_budget)
            while self._models and self.memory_budget and self._held() + needed > self.memory_budget:
                self.unload_model(next(iter(self._models)))
            try:
                runtime_gpt = loading.runtime_gpt(gpt, device=self.device, dtype=self.dtype, caches=config.gpt_cache)
                runtime_sovits = loading.runtime_sovits(
                    sovits, device=self.device, dtype=self.dtype, caches=config.sovits_cache
                )
            except Exception as exc:
                logger.warning("model %s failed to load: %s", model_id, exc)
                raise ModelUnavailable(model_id, exc) from exc
            del gpt, sovits  # the checkpoints' CPU copies of the weights
            keys = (f"gpt:{model_id}", f"sovits:{model_id}")
            self._tts.gpt_models[keys[0]] = runtime_gpt
            self._tts.sovits_models[keys[1]] = runtime_sovits
            held = loading.loaded_bytes(runtime_gpt.t2s_model, runtime_sovits.vq_model)
            self._models[model_id] = _LoadedPair(keys=keys, bytes=max(held, needed))
            self.peak_models = max(self.peak_models, len(self._models))
            logger.info("loaded GPT-SoVITS model %s (%s, %.0f MB)", model_id, runtime_sovits.hps.model.version,
                        held / 2**20)  # fmt: skip
            return keys

    def _held(self) -> int:
        return sum(pair.bytes for pair in self._models.values())

    def unload_model(self, model_id: str) -> None:
        with self._lock:
            pair = self._models.pop(str(model_id), None)
            if pair is None:
                return
            gpt_key, sovits_key = pair.keys
            self._tts.gpt_models.pop(gpt_key, None)
            self._tts.sovits_models.pop(sovits_key, None)
            for voice_key in [k for k, model in self._profiles.items() if model == str(model_id)]:
                self._forget_profile(voice_key)
            self._tts._empty_cache()
            _return_freed_memory()

    # -- profiles -------------------------------------------------------------------------

    def extract_profile(
        self, *, audio: np.ndarray, sample_rate: int, text: str, language: str, model: str | None = None
    ) -> VoiceProfile:
        if not text or not text.strip():
            raise ReferenceUnusable("GPT-SoVITS needs the transcript of the reference (reference_text)")
        if language not in LANGUAGES:
            raise UnsupportedLanguage(language)
        if model is None:
            raise EngineError("a GPT-SoVITS voice needs a model")
        from gsv_tts.TextProcessor import get_phones_and_bert

        torch = self._torch
        with self._lock, self._cpu_threads(), torch.inference_mode():
            _, sovits_key = self.load_model(model)
            sovits = self._tts.sovits_models[sovits_key]
            reference = _Reference(np.asarray(audio, dtype=np.float32), int(sample_rate))
            try:
                prompt = self._tts._get_prompt(self._tts.cnhubert_model, sovits, reference)
                refers, audio16k = self._tts._get_spec(sovits.hps, reference)
                sv_emb = self._tts.sv_model.compute_embedding3(audio16k)
                ge = sovits.vq_model.get_ge(refers, sv_emb)
                phones, _, bert, _ = get_phones_and_bert(text, self._tts.tts_config, language)
            except (RuntimeError, ValueError, IndexError, AssertionError) as exc:
                raise ReferenceUnusable(f"GPT-SoVITS could not analyse the reference ({type(exc).__name__})") from exc
            finally:
                self._tts._empty_cache()
            buffer = io.BytesIO()
            torch.save(
                {
                    "prompt": prompt.cpu(),
                    "phones": torch.tensor(phones, dtype=torch.int32),
                    "bert": bert.half().cpu(),
                    "ge": ge.float().cpu(),
                    "sv_emb": sv_emb.float().cpu(),
                },
                buffer,
            )
        return VoiceProfile(
            engine=self.name,
            data={
                "model_id": str(model),
                "version": sovits.hps.model.version,
                "language": language,
                "tensors": base64.b64encode(buffer.getvalue()).decode("ascii"),
            },
        )

    def _voice_key(self, profile: VoiceProfile, sovits_key: str) -> str:
        """Put the profile into the library's caches (once) under a key made from its content."""
        data = profile.data
        key = voice_key(profile)
        if key in self._profiles:
            self._profiles.move_to_end(key)
            return key
        torch = self._torch
        tensors = torch.load(io.BytesIO(base64.b64decode(data["tensors"])), map_location="cpu", weights_only=True)
        device, dtype = self.device, self.dtype
        self._tts.prompt_audio_cache[key] = {
            "prompt": tensors["prompt"].to(device),
            "phones1": tensors["phones"].tolist(),
            "bert1": tensors["bert"].to(device, dtype),
        }
        self._tts.spk_audio_cache[key] = {
            "ge": {sovits_key: tensors["ge"].to(device, dtype)},
            "sv_emb": tensors["sv_emb"].to(device, dtype),
        }
        self._profiles[key] = str(data["model_id"])
        while len(self._profiles) > self._max_profiles:
            self._forget_profile(next(iter(self._profiles)))
        return key

    def _forget_profile(self, key: str) -> None:
        self._profiles.pop(key, None)
        self._tts.prompt_audio_cache.pop(key, None)
        self._tts.spk_audio_cache.pop(key, None)

    # -- synthesis ------------------------------------------------------------------------

    def _check(self, request: SynthesisRequest) -> None:
        if request.language not in LANGUAGES:
            raise UnsupportedLanguage(request.language)
        if request.profile.engine != self.name:
            raise EngineError(f"a {request.profile.engine} profile cannot be spoken by {self.name}")

    def stream(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        """Audio a text segment at a time (the library's sentence-mode stream)."""
        from gsv_tts import cut_text

        self._check(request)
        profile = request.profile
        params = request.params
        torch = self._torch
        with self._lock, self._cpu_threads():
            gpt_key, sovits_key = self.load_model(profile.data["model_id"])
            voice_key = self._voice_key(profile, sovits_key)
            text = request.text if self._tts._check_pause(request.text) else request.text + "."
            cuts = cut_text(text, 10)  # the library's segments: one chunk each in sentence mode
            segments = max(1, len(cuts))
            if "seed" in params:
                torch.manual_seed(int(params["seed"]))
            chunks = self._tts.infer_stream(
                spk_audio_path=voice_key,
                prompt_audio_path=voice_key,
                prompt_audio_text="",  # cached with the profile
                text=text,
                text_language=request.language,
                prompt_language=profile.data.get("language", request.language),
                stream_mode="sentence",
                return_subtitles=True,
                **_sampling(params),
                gpt_model=gpt_key,
                sovits_model=sovits_key,
                debug=False,
            )
            done = 0
            made = 0.0  # seconds of audio so far
            cursor = 0  # where the last word timed ends in the text
            self.calls += 1
            self.spoken.append((request.text, voice_key))
            try:
                for clip in chunks:
                    done += 1
                    audio = _audio(clip)
                    before, made = made, made + len(audio) / SAMPLE_RATE
                    limit = sum(map(len, cuts[:done])) if done < segments else len(request.text)
                    words = _timed(clip, request.text, text=(cursor, limit), seconds=(before, made))
                    cursor = max([cursor, *(word.text_end for word in words)])
                    yield AudioChunk(audio=audio, sample_rate=SAMPLE_RATE, progress=min(1.0, done / segments),
                                     words=words)  # fmt: skip
            except _LIBRARY_ERRORS as exc:
                raise EngineError(f"GPT-SoVITS failed: {type(exc).__name__}: {exc}") from exc

    def synthesize(
        self,
        requests: Sequence[SynthesisRequest],
        *,
        on_progress: ProgressCallback | None = None,
        on_audio: AudioCallback | None = None,
    ) -> list[SynthesisResult | Exception]:
        """Each request joins the batcher: requests of this call and of other threads' calls that
        share a model and sampling settings run in one batched library call. A request that
        fails alone comes back as its exception, in its place."""
        jobs = [Job(key=_batch_key(request), item=_Item(index, request, on_progress, on_audio))
                for index, request in enumerate(requests)]  # fmt: skip
        self._batcher.submit(jobs)
        return [job.error if job.error is not None else job.result for job in jobs]

    def _run_batch(self, jobs: list[Job]) -> None:
        """The batcher's call: one request streamed alone (progress per segment), several in one
        ``infer_batched``."""
        live = []
        for job in jobs:
            try:
                self._check(job.item.request)
                job.item.report(0.0)  # a cancelled task (or a stopping worker) leaves here
                live.append(job)
            except Exception as exc:
                job.error = exc
        self._run_together(live)

    def _run_together(self, live: list[Job]) -> None:
        """One call for ``live``. One item can crash the library's whole batched call (an item
        that ends at its first step does): then each half is tried, down to items alone, so
        the items that did nothing wrong stay batched and only the bad one fails."""
        if len(live) <= 1:
            for job in live:
                self._run_alone(job)
            return
        try:
            clips = self._infer_batched([job.item.request for job in live])
        except Exception as exc:
            logger.warning("a batch of %d failed (%s); trying each half", len(live), type(exc).__name__)
            half = len(live) // 2
            self._run_together(live[:half])
            self._run_together(live[half:])
            return
        for job, clip in zip(live, clips, strict=True):
            try:
                audio, text = _audio(clip), job.item.request.text
                words = _timed(clip, text, text=(0, len(text)), seconds=(0.0, len(audio) / SAMPLE_RATE))
                chunk = AudioChunk(audio=audio, sample_rate=SAMPLE_RATE, progress=1.0, words=words)
                job.item.deliver(chunk)
                job.item.report(1.0)
                job.result = SynthesisResult(audio=audio, sample_rate=SAMPLE_RATE, words=chunk.words)
            except Exception as exc:
                job.error = exc

    def _run_alone(self, job: Job) -> None:
        try:
            job.result = synthesize_by_streaming(self, [job.item.request], job.item.forward, job.item.forward_audio)[0]
        except Exception as exc:
            job.error = exc

    def _infer_batched(self, requests: list[SynthesisRequest]) -> list:
        first = requests[0]
        params = first.params
        with self._lock, self._cpu_threads():
            gpt_key, sovits_key = self.load_model(first.profile.data["model_id"])
            keys = [self._voice_key(request.profile, sovits_key) for request in requests]
            texts = [r.text if self._tts._check_pause(r.text) else r.text + "." for r in requests]
            self.calls += 1
            self.spoken.extend(zip((r.text for r in requests), keys, strict=True))
            try:
                return list(
                    self._tts.infer_batched(
                        spk_audio_paths=keys,
                        prompt_audio_paths=keys,
                        prompt_audio_texts=[""] * len(keys),  # cached with the profiles
                        texts=texts,
                        text_languages=[r.language for r in requests],
                        prompt_languages=[r.profile.data.get("language", r.language) for r in requests],
                        return_subtitles=True,
                        **_sampling(params),
                        gpt_model=gpt_key,
                        sovits_model=sovits_key,
                    )
                )
            except _LIBRARY_ERRORS as exc:
                raise EngineError(f"GPT-SoVITS failed: {type(exc).__name__}: {exc}") from exc
