"""Audio sent while it is made, and answers that wait for a task, without holding a thread.

An endpoint here is a DRF view (authentication, scopes, throttling, validation and the
task's creation: the same code as the rest of the API) wrapped by :func:`taking_over`, an
async view. When the DRF half answers :class:`Follow`, the async half follows the task's
live audio (``synthesis.live_audio``) on the event loop: uvicorn holds many waiting
clients at once while gunicorn's few synchronous workers keep serving the API.

The status is chosen when the first audio arrives, so a task that fails before it
speaks gets the error envelope. A task that fails mid-stream ends the response without
its final chunk (SSE: with an ``error`` event), so a client never takes half an audio
for a whole one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Callable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from sovits_site.errors import envelope, error_response
from sovits_site.schema import audio_responses
from synthesis import live_audio, results, storage
from synthesis.live_audio import Ended, Piece, Started, Stored
from synthesis.models import Task, TaskStatus
from synthesis.selectors import task_get
from synthesis.stream_encoding import MEDIA_TYPES, StreamEncoder

logger = logging.getLogger(__name__)


class StreamAborted(Exception):
    """The task failed after its audio started: the response must not end as if complete."""


class Follow(HttpResponse):
    """The DRF half's answer when the async half takes over: the task, and how to answer.

    ``mode``: ``stream`` (the audio as it is made), ``sse`` (OpenAI's events) or ``whole``
    (wait, then the stored result). ``media``: a :mod:`synthesis.stream_encoding` format.
    ``stored(task, data)``: the answer once only the stored result is left (or wanted);
    ``failed(request, ended)``: the answer for a task that failed before it spoke (default:
    the task's own error). ``words``: SSE also carries the word timestamps."""

    def __init__(
        self,
        task: Task,
        *,
        media: str,
        stored: Callable[[Task, bytes], HttpResponse],
        mode: str = "stream",
        headers: dict | None = None,
        failed: Callable[[object, Ended], HttpResponse] | None = None,
        words: bool = False,
    ):
        super().__init__(status=200)
        self.task, self.media, self.stored, self.mode = task, media, stored, mode
        self.headers_out, self.failed, self.words = headers or {}, failed, words


def taking_over(view_class: type[APIView]):
    """The async view for a DRF view that may answer :class:`Follow`."""
    drf_view = view_class.as_view()

    async def view(request, *args, **kwargs):
        response = await sync_to_async(drf_view)(request, *args, **kwargs)
        if not isinstance(response, Follow):
            return response
        return await _answer(request, response)

    view.cls = view_class  # for the schema generator and URL introspection
    view.initkwargs = getattr(drf_view, "initkwargs", {})
    return csrf_exempt(view)


def _task_stored(task_id) -> Task:
    return Task.objects.select_related("tenant").get(id=task_id)


def _stored_bytes(task: Task) -> bytes:
    return storage.get(tenant=task.tenant, object_key=task.result_key)


async def _answer(request, follow: Follow):
    task, mode = follow.task, follow.mode
    if mode == "stream" and not isinstance(request, ASGIRequest):
        mode = "whole"  # run synchronously (WSGI), nothing can stream: the stored result, sent whole
    events = live_audio.follow(task)
    try:
        async with asyncio.timeout(settings.SYNC_WAIT_SECONDS):
            first = await anext(events)
            while mode == "whole" and not isinstance(first, Ended | Stored):
                first = await anext(events)
    except TimeoutError:
        await events.aclose()
        status = await sync_to_async(lambda: Task.objects.filter(id=task.id).values_list("status", flat=True).first())()
        return error_response(request, "SYNTHESIS_TIMEOUT", details={"task_id": str(task.id), "status": status})
    except BaseException:
        await events.aclose()
        raise
    if isinstance(first, Started) and mode != "whole":
        body = _sse(events, follow, first.rate) if mode == "sse" else _audio(events, follow, first.rate)
        content_type = "text/event-stream" if mode == "sse" else MEDIA_TYPES[follow.media]
        response = StreamingHttpResponse(body, content_type=content_type, headers=follow.headers_out)
        response["Cache-Control"] = "no-store"
        response["X-Sample-Rate"] = str(first.rate)
        response["X-Accel-Buffering"] = "no"  # proxies that buffer by default (nginx) pass it on as it comes
        if not isinstance(request, ASGIRequest):
            return await _collected(request, response, task)
        return response
    await events.aclose()
    if isinstance(first, Ended) and first.status != TaskStatus.DONE:
        if follow.failed is not None:
            return follow.failed(request, first)
        code = first.error or ("TASK_CANCELLED" if first.status == TaskStatus.CANCELLED else "ENGINE_ERROR")
        return error_response(request, code, details={"task_id": str(task.id)})
    done = await sync_to_async(_task_stored, thread_sensitive=False)(task.id)
    data = await sync_to_async(_stored_bytes, thread_sensitive=False)(done)
    return follow.stored(done, data)


async def _collected(request, response: StreamingHttpResponse, task: Task) -> HttpResponse:
    """The same events sent whole, for a server that runs this view synchronously (WSGI): its
    event loop lives for this call only, so the body is gathered before it ends."""
    try:
        body = [chunk async for chunk in response.streaming_content]
    except (live_audio.StreamBroken, StreamAborted) as exc:
        code = str(exc) if isinstance(exc, StreamAborted) else "WORKER_LOST"
        return error_response(request, code, details={"task_id": str(task.id)})
    whole = HttpResponse(b"".join(body), content_type=response["Content-Type"])
    for name, value in response.items():
        whole[name] = value
    return whole


async def _encoded(encoder: StreamEncoder, pcm: bytes | None) -> bytes:
    """The encoder's next bytes (``None``: its last ones); compressing runs off the event loop."""
    step = encoder.finish if pcm is None else (lambda: encoder.encode(pcm))
    if encoder.media in ("wav", "raw"):
        return step()
    return await asyncio.to_thread(step)


async def _pieces(events: AsyncIterator, encoder: StreamEncoder) -> AsyncIterator[tuple[bytes, list]]:
    """(bytes, words) for each piece of audio, then the encoder's tail; raises StreamAborted
    when the task ends otherwise than DONE."""
    try:
        async for event in events:
            if isinstance(event, Piece):
                yield await _encoded(encoder, event.pcm), event.words
            elif isinstance(event, Ended) and event.status == TaskStatus.DONE:
                yield await _encoded(encoder, None), []
                return
            else:
                code = event.error if isinstance(event, Ended) else "ENGINE_ERROR"
                if isinstance(event, Ended) and event.status == TaskStatus.CANCELLED:
                    code = "TASK_CANCELLED"
                raise StreamAborted(code or "ENGINE_ERROR")
        raise StreamAborted("ENGINE_ERROR")
    finally:
        await events.aclose()


async def _audio(events: AsyncIterator, follow: Follow, rate: int) -> AsyncIterator[bytes]:
    encoder = StreamEncoder(follow.media, rate)
    if header := encoder.header():
        yield header
    try:
        async for data, _ in _pieces(events, encoder):
            if data:
                yield data
    except (live_audio.StreamBroken, StreamAborted) as exc:
        logger.warning("task %s: stream cut short (%s)", follow.task.id, exc)
        raise


def _event(payload: dict) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


async def _sse(events: AsyncIterator, follow: Follow, rate: int) -> AsyncIterator[str]:
    """OpenAI's speech events: ``speech.audio.delta`` with base64 audio, then ``speech.audio.done``.
    With ``words``, ``speech.audio.timestamps`` events carry the words each delta speaks."""
    encoder = StreamEncoder(follow.media, rate)
    pending = encoder.header()
    try:
        async for data, words in _pieces(events, encoder):
            data, pending = pending + data, b""
            if data:
                yield _event({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode("ascii")})
            if words and follow.words:
                text = follow.task.text
                spoken = [{"word": text[w["text_start"] : w["text_end"]], **w} for w in words]
                yield _event({"type": "speech.audio.timestamps", "words": spoken})
    except (live_audio.StreamBroken, StreamAborted) as exc:
        code = str(exc) if isinstance(exc, StreamAborted) else "WORKER_LOST"
        yield _event({"type": "error", **envelope(code, details={"task_id": str(follow.task.id)})})
        return
    tokens = follow.task.characters
    yield _event({"type": "speech.audio.done", "usage": {"input_tokens": tokens, "output_tokens": 0,
                                                         "total_tokens": tokens}})  # fmt: skip


# -- GET /api/v1/tasks/{id}/stream -----------------------------------------------------------


def _stored_task_audio(task: Task, data: bytes) -> HttpResponse:
    return HttpResponse(data, content_type=results.MEDIA_TYPES[task.output_format])


def _task_failed(request, ended: Ended) -> HttpResponse:
    """A task that ended without audio: as ``/audio`` answers it (neither will ever have any)."""
    if ended.status == TaskStatus.CANCELLED:
        return error_response(request, "TASK_CANCELLED", details={"status": ended.status})
    return error_response(request, "TASK_FAILED", details={"status": ended.status, "error": ended.error or None})


class TaskStreamApi(APIView):
    """The task's audio in its format, from the start and then live until it is done: a
    client that connects late gets it all, one that connects after the end gets the
    stored result. ``wav`` streams as a header that says "length unknown", then PCM."""

    @extend_schema(responses=audio_responses(200))
    def get(self, request, task_id):
        task = task_get(tenant=request.tenant, task_id=task_id)
        if task.status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
            return _task_failed(request, Ended(task.status, (task.error or {}).get("code", "")))
        task.tenant = request.tenant
        return Follow(task=task, media=task.output_format, stored=_stored_task_audio, failed=_task_failed)
