from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from synthesis.selectors import usage_this_month


class UsageApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            name="Usage",
            fields={
                "period_start": serializers.DateTimeField(),
                "characters": serializers.IntegerField(help_text="Charged: failed and cancelled tasks are not"),
                "tasks": serializers.IntegerField(),
                "tasks_done": serializers.IntegerField(),
                "voices": serializers.IntegerField(),
                "quotas": serializers.DictField(
                    child=serializers.DictField(), help_text="Per quota: limit, used, remaining, resets_at"
                ),
                "daily": inline_serializer(
                    name="UsageDay",
                    many=True,
                    fields={
                        "day": serializers.DateField(),
                        "tasks": serializers.IntegerField(),
                        "done": serializers.IntegerField(),
                        "failed": serializers.IntegerField(),
                        "characters": serializers.IntegerField(),
                        "audio_seconds": serializers.FloatField(),
                    },
                    help_text="The last 30 days (UTC), oldest first",
                ),
            },
        )
    )
    def get(self, request):
        return Response(usage_this_month(tenant=request.tenant))
