"""Drop-in endpoints for existing clients: GPT-SoVITS ``api_v2``'s ``/tts`` and
OpenAI's ``/v1/audio/speech``. Both queue an ordinary high-priority task and answer
with its audio, as it is made when the client streams (``streaming_mode``; OpenAI
always streams), so those clients work by changing the base URL (and sending the
API key). The waiting happens on the event loop (``synthesis.api.streaming``)."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf
from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from sovits_site.errors import ApiError
from sovits_site.schema import audio_responses
from synthesis import dispatch
from synthesis.api.streaming import Follow
from synthesis.models import OutputFormat, Task
from synthesis.selectors import speaker_by_reference
from synthesis.services.models import compat_choose, compat_model_for
from synthesis.services.tasks import SPEED_MAX, SPEED_MIN, speed_applied, task_create


def _create(request, *, text: str, voice: str, language: str, output_format: str, sample_rate, params: dict) -> Task:
    speaker = speaker_by_reference(tenant=request.tenant, reference=voice)
    dispatch.require_broker()  # the client waits for the audio: no use queueing what cannot run now
    return task_create(
        tenant=request.tenant,
        speaker_id=speaker.id,
        text=text,
        language=language,
        output_format=output_format,
        sample_rate=sample_rate,
        params=params,
        priority=1,  # someone is waiting on the line
    )


def _pcm16(wav: bytes) -> bytes:
    samples, _ = sf.read(io.BytesIO(wav), dtype="int16")
    return np.ascontiguousarray(samples).tobytes()


_MEDIA = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg", "opus": "audio/ogg"}


# api_v2 parameters passed on to GPT-SoVITS voices; the rest of api_v2's are accepted and ignored.
_SAMPLING = ("top_k", "top_p", "temperature", "repetition_penalty")
_IGNORED = ("prompt_text", "prompt_lang", "text_split_method", "batch_size", "parallel_infer", "split_bucket",
            "fragment_interval", "sample_steps", "super_sampling", "aux_ref_audio_paths")  # fmt: skip


def _principal(request) -> str:
    """Whose model choice applies: the API key's, else the signed-in user's."""
    api_key = getattr(request.auth, "api_key", None)
    return f"key:{api_key.id}" if api_key is not None else f"user:{request.user.pk}"


class TtsApi(APIView):
    """GPT-SoVITS api_v2 ``/tts``: GET with query parameters or POST with JSON."""

    scopes = {"GET": "synthesize", "POST": "synthesize"}

    class TtsInputSerializer(serializers.Serializer):
        # GET puts the text in the URL: keep to the real limit, so proxies' line limits are never the error.
        text = serializers.CharField(max_length=settings.MAX_TASK_CHARACTERS)
        text_lang = serializers.CharField(max_length=16, default="auto")
        ref_audio_path = serializers.CharField(
            max_length=255, help_text="The name or id of one of your voices (its reference recording is used)"
        )
        prompt_text = serializers.CharField(required=False, allow_blank=True, help_text="Ignored: the voice's own")
        prompt_lang = serializers.CharField(required=False, allow_blank=True, help_text="Ignored: the voice's own")
        media_type = serializers.ChoiceField(choices=["wav", "ogg", "flac", "mp3", "raw"], default="wav")
        streaming_mode = serializers.ChoiceField(
            choices=["false", "true", "0", "1", "2", "3"],
            default="false",
            help_text="As api_v2: false/0 answers the whole file; true/1/2/3 stream it as it is made "
            "(wav: a header, then PCM). The pieces are sentences whatever the number.",
        )
        speed_factor = serializers.FloatField(default=1.0, min_value=0.5, max_value=2.0)
        sample_rate = serializers.IntegerField(required=False, allow_null=True, default=None)
        top_k = serializers.IntegerField(required=False, min_value=1, max_value=100)
        top_p = serializers.FloatField(required=False, min_value=0.01, max_value=1.0)
        temperature = serializers.FloatField(required=False, min_value=0.01, max_value=2.0)
        repetition_penalty = serializers.FloatField(required=False, min_value=1.0, max_value=2.0)
        seed = serializers.IntegerField(required=False, help_text="-1 (api_v2's default): random")

    @extend_schema(parameters=[TtsInputSerializer], responses=audio_responses(200))
    def get(self, request):
        return self._answer(request, request.query_params)

    @extend_schema(request=TtsInputSerializer, responses=audio_responses(200))
    def post(self, request):
        return self._answer(request, request.data)

    def _answer(self, request, data):
        # Unknown parameters are dropped by the serializer; X-Ignored-Parameters names those not used.
        if "streaming_mode" in data:
            data = data.copy()
            data["streaming_mode"] = str(data["streaming_mode"]).lower()
        serializer = self.TtsInputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        p = serializer.validated_data
        media = p["media_type"]
        language = {"all_zh": "zh", "all_ja": "ja", "all_yue": "yue", "all_ko": "ko"}.get(
            p["text_lang"], p["text_lang"]
        )
        speaker = speaker_by_reference(tenant=request.tenant, reference=p["ref_audio_path"])
        params = {"speed": p["speed_factor"]}
        streaming = p["streaming_mode"] not in ("false", "0")
        ignored = [name for name in _IGNORED if name in data]
        if speaker.engine == "gpt-sovits":
            params |= {name: p[name] for name in _SAMPLING if name in p}
            if p.get("seed", -1) >= 0:
                params["seed"] = p["seed"]
            model = compat_model_for(tenant=request.tenant, principal=_principal(request))
            if model is not None and model.id != speaker.model_id:
                params["model_id"] = str(model.id)
        else:
            ignored += [name for name in (*_SAMPLING, "seed") if name in data]
        task = _create(
            request,
            text=p["text"],
            voice=str(speaker.id),
            language=language.lower(),
            output_format=OutputFormat.WAV if media == "raw" else media,
            sample_rate=p["sample_rate"],
            params=params,
        )
        headers = {"X-Ignored-Parameters": ", ".join(ignored)} if ignored else {}

        def stored(task: Task, audio: bytes) -> HttpResponse:
            if media == "raw":
                return HttpResponse(_pcm16(audio), content_type="audio/pcm",
                                    headers={**headers, "X-Sample-Rate": str(task.sample_rate)})  # fmt: skip
            return HttpResponse(audio, content_type=_MEDIA[media], headers=headers)

        return Follow(task, media=media, mode="stream" if streaming else "whole", headers=headers, stored=stored)


class _SetWeightsApi(APIView):
    """api_v2's ``/set_gpt_weights`` and ``/set_sovits_weights``: choose, for this API key's later
    ``/tts`` calls, the model (one of yours, or a base model) its voices speak through.
    ``weights_path`` names the model (its name or id; upstream file paths match by file name)."""

    scopes = {"GET": "synthesize"}
    part = ""

    class WeightsInputSerializer(serializers.Serializer):
        weights_path = serializers.CharField(max_length=1000)

    @extend_schema(parameters=[WeightsInputSerializer], responses={200: dict})
    def get(self, request):
        serializer = self.WeightsInputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        model = compat_choose(tenant=request.tenant, principal=_principal(request), part=self.part,
                              reference=serializer.validated_data["weights_path"])  # fmt: skip
        return Response({"message": "success", "model_id": str(model.id), "model": model.name})


class SetGptWeightsApi(_SetWeightsApi):
    part = "gpt"


class SetSovitsWeightsApi(_SetWeightsApi):
    part = "sovits"


class OpenAISpeechApi(APIView):
    """OpenAI ``POST /v1/audio/speech``; the API key goes in ``Authorization: Bearer``."""

    scopes = {"POST": "synthesize"}

    class OpenAISpeechInputSerializer(serializers.Serializer):
        model = serializers.CharField(max_length=100, help_text="Accepted and ignored (the configured engine speaks)")
        input = serializers.CharField(max_length=100_000)
        voice = serializers.CharField(max_length=255, help_text="The name or id of one of your voices")
        response_format = serializers.ChoiceField(choices=["mp3", "opus", "flac", "wav", "pcm"], default="mp3")
        stream_format = serializers.ChoiceField(
            choices=["audio", "sse"], default="audio",
            help_text="audio: the bytes as they are made; sse: speech.audio.delta events, then speech.audio.done",
        )  # fmt: skip
        timestamp_granularities = serializers.ListField(
            child=serializers.ChoiceField(choices=["word"]), required=False, default=list,
            help_text='["word"] with sse: speech.audio.timestamps events give the words each delta speaks (ours)',
        )  # fmt: skip
        speed = serializers.FloatField(
            default=1.0, min_value=0.25, max_value=4.0,
            help_text=f"OpenAI's range; the engines speak from {SPEED_MIN} to {SPEED_MAX} times, so a speed outside "
            "that is clamped to it, and X-Speed-Applied says the speed used",
        )  # fmt: skip
        instructions = serializers.CharField(required=False, allow_blank=True, help_text="Accepted and ignored")

    @extend_schema(request=OpenAISpeechInputSerializer, responses=audio_responses(200))
    def post(self, request):
        serializer = self.OpenAISpeechInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        p = serializer.validated_data
        fmt = p["response_format"]
        output_format = {"opus": OutputFormat.OGG, "pcm": OutputFormat.WAV}.get(fmt, fmt)
        sample_rate = 24000 if fmt in ("pcm", "opus") else None  # OpenAI's pcm is 24 kHz s16le
        speed = speed_applied(p["speed"])
        task = _create(
            request,
            text=p["input"],
            voice=p["voice"],
            language="auto",
            output_format=output_format,
            sample_rate=sample_rate,
            params={"speed": speed},
        )
        headers = {"X-Speed-Applied": f"{speed:g}"}

        def stored(task: Task, audio: bytes) -> HttpResponse:
            if fmt == "pcm":
                return HttpResponse(_pcm16(audio), content_type="audio/pcm", headers=headers)
            return HttpResponse(audio, content_type=_MEDIA[fmt], headers=headers)

        media = {"opus": "ogg", "pcm": "raw"}.get(fmt, fmt)
        words = "word" in p["timestamp_granularities"]
        mode = p["stream_format"].replace("audio", "stream")
        return Follow(task, media=media, mode=mode, stored=stored, words=words, headers=headers)


# Model names OpenAI clients send; any of them speaks through the voice's own engine.
OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
_MODELS_CREATED = 1_767_225_600  # 2026-01-01: fixed, these are names, not models built at a time


def _openai_model(name: str) -> dict:
    return {"id": name, "object": "model", "created": _MODELS_CREATED, "owned_by": "voice-platform"}


class OpenAIModelSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(help_text='"model"')
    created = serializers.IntegerField(help_text="Unix seconds")
    owned_by = serializers.CharField()


class OpenAIModelListApi(APIView):
    """OpenAI ``GET /v1/models``: the model names ``/v1/audio/speech`` takes (tools list them
    before speaking). Authenticated as speech is, with a key that may synthesize."""

    scopes = {"GET": "synthesize"}

    @extend_schema(
        operation_id="openai_models_list",
        responses=inline_serializer(
            name="OpenAIModelList", fields={"object": serializers.CharField(), "data": OpenAIModelSerializer(many=True)}
        ),
    )
    def get(self, request):
        return Response({"object": "list", "data": [_openai_model(name) for name in OPENAI_MODELS]})


class OpenAIModelDetailApi(APIView):
    """OpenAI ``GET /v1/models/{model}``."""

    scopes = {"GET": "synthesize"}

    @extend_schema(operation_id="openai_models_retrieve", responses=OpenAIModelSerializer)
    def get(self, request, model: str):
        if model not in OPENAI_MODELS:
            raise ApiError("NOT_FOUND", f"The model {model!r} does not exist", details={"models": list(OPENAI_MODELS)})
        return Response(_openai_model(model))
