"""Small helpers for describing APIViews in the OpenAPI schema."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers


def paginated(name: str, item) -> serializers.Serializer:
    return inline_serializer(
        name=name,
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )


_AUDIO = OpenApiResponse(
    response=OpenApiTypes.BINARY,
    description="The audio (WAV, FLAC, Ogg Opus, MP3 or raw PCM as asked). Honours `Range: bytes=…` (206).",
)
AUDIO_TYPES = ("audio/wav", "audio/flac", "audio/ogg", "audio/mpeg", "audio/pcm")


def audio_responses(*statuses: int) -> dict:
    """Binary audio answers, one entry per media type the endpoint may send."""
    return {(status, media): _AUDIO for status in statuses for media in AUDIO_TYPES}


PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="Page number, from 1"),
    OpenApiParameter("page_size", int, description="Items per page (at most 200)"),
]
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Retry-safe creation: the same key and body within 24 h return the same resource; "
    "another body with the same key is 409 IDEMPOTENCY_CONFLICT.",
)
