"""``GET /api/errors``: the error catalogue, served so that clients and the API docs can
link it. The codes come from ``sovits_site.errors``; the "when" of each from the table in
``docs/errors.md`` (a test keeps the two in step)."""

from __future__ import annotations

import re
from functools import cache

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from sovits_site.errors import CATALOGUE

_ROW = re.compile(r"^\| `([A-Z_]+)` \| \d{3} \| [A-Z]+ \| \w+ \| (.+) \|$", flags=re.MULTILINE)


@cache
def _when() -> dict[str, str]:
    try:
        table = (settings.BASE_DIR / "docs" / "errors.md").read_text(encoding="utf-8")
    except OSError:  # an image built without docs/: the catalogue still answers
        return {}
    return dict(_ROW.findall(table))


def catalogue() -> list[dict]:
    when = _when()
    return [
        {"code": e.code, "status": e.status, "category": e.category, "retryable": e.retryable,
         "message": e.message, "when": when.get(e.code, "")}
        for e in CATALOGUE.values()
    ]  # fmt: skip


class ErrorCodeSerializer(serializers.Serializer):
    code = serializers.CharField()
    status = serializers.IntegerField(help_text="The HTTP status it answers with")
    category = serializers.ChoiceField(choices=["CLIENT", "SERVER", "SYSTEM"])
    retryable = serializers.BooleanField(help_text="Whether the same request may succeed later")
    message = serializers.CharField(help_text="The default message (answers often say more)")
    when = serializers.CharField()


class ErrorCatalogueApi(APIView):
    """Every error code the API answers with. Public: it documents, it reveals nothing."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        auth=[],
        responses=inline_serializer(
            name="ErrorCatalogue",
            fields={"count": serializers.IntegerField(), "results": ErrorCodeSerializer(many=True)},
        ),
    )
    def get(self, request):
        codes = catalogue()
        return Response({"count": len(codes), "results": codes})
