"""A task's audio while it is being made, for clients that listen live.

The worker appends each piece of a task's audio to a Redis stream as the engine
makes it: 16-bit PCM at the task's output rate, sealed under the tenant's key
(Redis never holds plaintext audio), with the words that piece speaks. An end
entry follows the outcome. A reader replays the stream from its first entry, so
a client that connects late still gets the whole audio, then follows it live.

Redis only carries it. The stored result is the truth and is made from the very
samples that were streamed; a stream expires soon after its end, and a reader
that finds none falls back on the database and the stored result. Publishing
never fails a task: a worker that cannot reach Redis just stops streaming.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np
import redis
import redis.asyncio as aioredis
import soxr
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from sovits_site import redis_client
from synthesis import results, storage
from synthesis.engines.base import AudioChunk
from synthesis.models import Task, TaskStatus

logger = logging.getLogger(__name__)

GROWING_TTL_SECONDS = 600  # a stream whose worker died unseen is gone after this
ENDED_TTL_SECONDS = 120  # late readers after this get the stored result
_FINISHED = (TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.CANCELLED)


READER_NAME = "live-audio-reader"  # each reader's Redis connection, by name (CLIENT LIST)


def stream_key(task_id) -> str:
    return f"{settings.REDIS_NAMESPACE}-audio:{task_id}"


def _associated(task_id, attempt: int, seq: int) -> str:
    return f"live/{task_id}/{attempt}/{seq}"


_redis = redis_client.shared


class AudioPublisher:
    """One claim's live audio of one task, in the worker. ``pcm()`` is what was streamed:
    the stored result is encoded from it."""

    def __init__(self, task: Task, engine_rate: int):
        self.task = task
        self.engine_rate = engine_rate
        self.rate = results.output_rate(engine_rate, output_format=task.output_format, sample_rate=task.sample_rate)
        resample = self.rate != engine_rate
        self._resampler = soxr.ResampleStream(engine_rate, self.rate, 1, dtype="float32") if resample else None
        self._pieces: list[np.ndarray] = []
        self._seq = 0
        self._live = True
        self._send(
            {"kind": "start", "rate": self.rate, "format": task.output_format},
            fresh=True,  # an earlier claim's stream ends here: readers start over or stop
        )

    def append(self, chunk: AudioChunk) -> None:
        if chunk.sample_rate != self.engine_rate:
            raise ValueError(f"the engine changed its rate mid-task ({self.engine_rate} → {chunk.sample_rate})")
        samples = chunk.audio.astype(np.float32)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        self._emit(samples, [word.as_dict() for word in chunk.words])

    def close(self) -> np.ndarray:
        """Flush the resampler; returns every sample streamed (int16 at ``rate``)."""
        if self._resampler is not None:
            self._emit(self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True), [])
            self._resampler = None
        return np.concatenate(self._pieces) if self._pieces else np.zeros(0, dtype="<i2")

    def _emit(self, samples: np.ndarray, words: list[dict]) -> None:
        pcm = results.to_pcm16(samples)
        if pcm.size == 0 and not words:
            return
        self._pieces.append(pcm)
        self._seq += 1
        sealed = storage.seal(self.task.tenant, pcm.tobytes(), _associated(self.task.id, self.task.attempts, self._seq))
        self._send({"kind": "audio", "seq": self._seq, "data": sealed, "words": json.dumps(words)})

    def _send(self, fields: dict, *, fresh: bool = False) -> None:
        if not self._live:
            return
        key = stream_key(self.task.id)
        try:
            pipe = _redis().pipeline(transaction=False)
            if fresh:
                pipe.delete(key)
            pipe.xadd(key, {**fields, "attempt": self.task.attempts})
            pipe.expire(key, GROWING_TTL_SECONDS)
            pipe.execute()
        except redis.RedisError as exc:
            self._live = False
            logger.warning("task %s: live audio stopped (%s); the result is stored as usual", self.task.id, exc)


def publish_end(task: Task) -> None:
    """The outcome of the task's current claim, after the database has it."""
    key = stream_key(task.id)
    error = (task.error or {}).get("code", "") if task.status != TaskStatus.DONE else ""
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.xadd(key, {"kind": "end", "status": task.status, "error": error, "attempt": task.attempts})
        pipe.expire(key, ENDED_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("task %s: could not mark the end of its live audio (%s)", task.id, exc)


# -- reading (async: a waiting reader holds no thread) ------------------------------------


@dataclass(frozen=True)
class Started:
    rate: int


@dataclass(frozen=True)
class Piece:
    pcm: bytes  # int16 little-endian mono at the start's rate
    words: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Ended:
    status: str
    error: str  # the task's error code when it did not end DONE


@dataclass(frozen=True)
class Stored:
    """The task is DONE and its live stream is gone: read the stored result instead."""


class StreamBroken(Exception):
    """The stream cannot go on where this reader left it (the task restarted on another
    worker, or Redis lost the stream midway): what was sent cannot be completed."""


def _task_state(task_id) -> tuple[str, str]:
    close_old_connections()  # runs on a pooled thread, outside any request's cycle
    row = Task.objects.filter(id=task_id).values_list("status", "error").first()
    if row is None:
        return TaskStatus.CANCELLED, "NOT_FOUND"
    status, error = row
    return status, (error or {}).get("code", "")


async def follow(task: Task, *, poll_seconds: float = 2.0) -> AsyncIterator[Started | Piece | Ended | Stored]:
    """The task's live audio from its start: ``Started``, then ``Piece``s, then ``Ended``;
    or ``Stored`` alone when only the stored result is left. Between entries the database is
    checked every ``poll_seconds``: Redis may lose a stream or miss an end, never the task."""
    key = stream_key(task.id)
    client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, client_name=READER_NAME)
    last, attempt, heard = "0-0", None, False
    try:
        while True:
            try:
                reply = await client.xread({key: last}, count=64, block=int(poll_seconds * 1000))
            except redis.RedisError as exc:  # Redis down: the database still says how it ends
                logger.warning("task %s: live audio unavailable (%s)", task.id, exc)
                reply = None
            if not reply:
                status, error = await sync_to_async(_task_state, thread_sensitive=False)(task.id)
                if status not in _FINISHED:
                    continue
                try:  # the end entry follows the database's update by a moment
                    reply = await client.xread({key: last}, count=64)
                except redis.RedisError:
                    reply = None
                if not reply:
                    if status == TaskStatus.DONE:
                        if heard:
                            raise StreamBroken("the live audio stopped before its end")
                        yield Stored()
                    else:
                        yield Ended(status, error)
                    return
            for entry_id, fields in reply[0][1]:
                last = entry_id
                kind = fields[b"kind"]
                if attempt is not None and int(fields[b"attempt"]) != attempt:
                    if heard:
                        raise StreamBroken("the task was restarted by another worker")
                    attempt = None  # nothing sent yet: follow the new claim
                if kind == b"start":
                    if heard:  # the claim ran its engine call again (another task of its batch was cancelled)
                        raise StreamBroken("the task's synthesis started over")
                    attempt = int(fields[b"attempt"])
                    yield Started(rate=int(fields[b"rate"]))
                elif kind == b"audio" and attempt is not None:
                    associated = _associated(task.id, attempt, int(fields[b"seq"]))
                    pcm = storage.unseal(task.tenant, fields[b"data"], associated)
                    heard = True
                    yield Piece(pcm=pcm, words=json.loads(fields[b"words"]))
                elif kind == b"end":
                    if fields[b"status"].decode() == TaskStatus.DONE and not heard:
                        yield Stored()  # ended before this reader saw its audio (earlier claim's stream)
                    else:
                        yield Ended(fields[b"status"].decode(), fields[b"error"].decode())
                    return
    finally:
        await client.aclose()
