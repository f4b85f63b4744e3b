"""Token endpoints: simplejwt's views, answering in the error envelope."""

from rest_framework.permissions import AllowAny
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView


class TokenObtainApi(TokenObtainPairView):
    authentication_classes: list = []
    permission_classes = [AllowAny]


class TokenRefreshApi(TokenRefreshView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
