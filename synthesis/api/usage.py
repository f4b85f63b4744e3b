from rest_framework.response import Response
from rest_framework.views import APIView

from synthesis.selectors import usage_this_month


class UsageApi(APIView):
    def get(self, request):
        return Response(usage_this_month(tenant=request.tenant))
