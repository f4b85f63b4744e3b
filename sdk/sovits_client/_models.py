"""The shapes the service answers with, as TypedDicts.

TypedDicts rather than dataclasses: the JSON arrives as dicts and stays dicts, so ``task["status"]`` works as
it always has, nothing is copied, and fields the service adds later pass through instead of breaking parsing.
The types exist for editors and type checkers.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, NotRequired, TypedDict, TypeVar

Language = Literal["auto", "en", "zh", "yue", "ja", "ko"]
OutputFormat = Literal["wav", "flac", "ogg", "mp3"]
TaskStatus = Literal["PENDING", "PROCESSING", "DONE", "FAILED", "CANCELLED"]
BatchStatus = Literal["PENDING", "PROCESSING", "DONE", "PARTIAL", "FAILED"]
SpeakerStatus = Literal["PROCESSING", "READY", "FAILED"]

FINISHED: tuple[TaskStatus, ...] = ("DONE", "FAILED", "CANCELLED")
"""A task in one of these states will not change again."""


class ErrorBody(TypedDict, total=False):
    """The ``error`` object of an envelope, and of a failed task or voice (which has no request_id)."""

    code: str
    category: Literal["CLIENT", "SERVER", "SYSTEM"]
    message: str
    retryable: bool
    details: dict[str, Any]
    request_id: str


class TaskParams(TypedDict, total=False):
    speed: float


class Task(TypedDict):
    id: str
    status: TaskStatus
    progress: int
    speaker_id: str
    text: str
    language: str
    priority: int
    error: ErrorBody | None
    result_url: str | None
    similarity: float | None
    duration_seconds: float | None
    output_format: OutputFormat
    sample_rate: int | None
    batch_id: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    params: NotRequired[TaskParams]
    characters: NotRequired[int]
    callback_url: NotRequired[str]


class BatchRequest(TypedDict, total=False):
    """One item of ``batch_synthesize``: ``text`` and ``speaker_id`` are required by the service."""

    text: str
    speaker_id: str
    language: Language
    output_format: OutputFormat
    sample_rate: int | None
    params: TaskParams


class Batch(TypedDict):
    id: str
    status: BatchStatus
    progress: int
    total: int
    done: int
    failed: int
    tasks: list[Task]
    created_at: str
    priority: NotRequired[int]
    callback_url: NotRequired[str]


class Speaker(TypedDict):
    id: str
    name: str
    language: str
    reference_text: str
    engine: str
    model_id: str | None
    status: SpeakerStatus
    error: ErrorBody | None
    duration_seconds: float | None
    created_at: str


T = TypeVar("T")


class Page(TypedDict, Generic[T]):
    """One page of a list; the clients follow ``next`` so callers rarely see these."""

    count: int
    next: str | None
    previous: str | None
    results: list[T]
