from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from sovits_site import handlers, health
from sovits_site.error_catalogue import ErrorCatalogueApi
from synthesis.api.compat import (
    OpenAIModelDetailApi,
    OpenAIModelListApi,
    OpenAISpeechApi,
    SetGptWeightsApi,
    SetSovitsWeightsApi,
    TtsApi,
)
from synthesis.api.streaming import taking_over
from synthesis.metrics import metrics_view
from synthesis.pages import AppPage, DpaPage, VoicesPage, WorkspaceErasedPage
from tenants.api import (
    ApiKeyListCreateApi,
    ApiKeyRevokeApi,
    DpaAcceptApi,
    DpaApi,
    LogoutApi,
    TokenObtainApi,
    TokenRefreshApi,
    WebSocketTicketApi,
)

api_v1 = [
    path("auth/token", TokenObtainApi.as_view(), name="token-obtain"),
    path("auth/token/refresh", TokenRefreshApi.as_view(), name="token-refresh"),
    path("auth/logout", LogoutApi.as_view(), name="token-logout"),
    path("auth/ws-ticket", WebSocketTicketApi.as_view(), name="ws-ticket"),
    path("keys", ApiKeyListCreateApi.as_view(), name="key-list"),
    path("dpa", DpaApi.as_view(), name="dpa"),
    path("dpa/accept", DpaAcceptApi.as_view(), name="dpa-accept"),
    path("keys/<uuid:key_id>/revoke", ApiKeyRevokeApi.as_view(), name="key-revoke"),
    path("", include("synthesis.api.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    # Drop-in endpoints for GPT-SoVITS and OpenAI clients.
    path("tts", taking_over(TtsApi), name="compat-tts"),
    path("set_gpt_weights", SetGptWeightsApi.as_view(), name="compat-set-gpt-weights"),
    path("set_sovits_weights", SetSovitsWeightsApi.as_view(), name="compat-set-sovits-weights"),
    path("v1/audio/speech", taking_over(OpenAISpeechApi), name="compat-openai-speech"),
    path("v1/models", OpenAIModelListApi.as_view(), name="compat-openai-models"),
    path("v1/models/<str:model>", OpenAIModelDetailApi.as_view(), name="compat-openai-model"),
    path("api/v1/", include(api_v1)),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/errors", ErrorCatalogueApi.as_view(), name="error-catalogue"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(pattern_name="page-synthesize"), name="home"),
    path("voices/", VoicesPage.as_view(), name="page-voices"),
    path("synthesize/", AppPage.as_view(page="synthesize"), name="page-synthesize"),
    path("history/", AppPage.as_view(page="history"), name="page-history"),
    path("keys/", AppPage.as_view(page="keys", admin_only=True), name="page-keys"),
    path("privacy/", AppPage.as_view(page="privacy", owner_only=True), name="page-privacy"),
    path("dpa/", DpaPage.as_view(), name="page-dpa"),
    path("erased/", WorkspaceErasedPage.as_view(), name="page-erased"),
]

handler400 = handlers.bad_request
handler403 = handlers.permission_denied
handler404 = handlers.not_found
handler500 = handlers.server_error
