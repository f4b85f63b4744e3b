"""The browser app's pages. They render the shell; the data comes from the REST API
and the live channel (``/ws/``), with the browser session as credentials."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.views.generic import TemplateView

from sovits_site.middleware import client_ip
from synthesis.engines import served
from synthesis.languages import LANGUAGES
from synthesis.models import ModelStatus
from synthesis.selectors import model_list
from tenants import dpa
from tenants.models import Membership, Role


class AppPage(LoginRequiredMixin, TemplateView):
    page = ""
    admin_only = False
    owner_only = False

    def get_template_names(self) -> list[str]:
        return [f"app/{self.page}.html"]

    def get_context_data(self, **kwargs):
        membership = Membership.objects.select_related("tenant").filter(user=self.request.user).first()
        if membership is None:
            raise PermissionDenied("This account belongs to no tenant")
        if self.admin_only and membership.role not in (Role.OWNER, Role.ADMIN):
            raise PermissionDenied("Only owners and admins manage API keys")
        if self.owner_only and membership.role != Role.OWNER:
            raise PermissionDenied("Only the workspace's owner files privacy requests")
        return super().get_context_data(
            tenant=membership.tenant,
            role=membership.role,
            languages=list(LANGUAGES.items()),
            page=self.page,
            **kwargs,
        )


def _engine_choice(info) -> dict:
    seconds = info.reference_seconds
    return {
        "name": info.name,
        "languages": ",".join(sorted(info.languages)),
        "needs_text": info.needs_reference_text,
        "uses_models": info.uses_models,
        "seconds": "–".join(f"{s:g}" for s in seconds) if seconds else "",
    }


class VoicesPage(AppPage):
    """The engines and models to choose from are rendered in: the form needs no extra request."""

    page = "voices"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        engines = served()
        ready = model_list(tenant=context["tenant"]).filter(status=ModelStatus.READY)
        choices = [_engine_choice(info) for info in engines]
        return {**context, "engines": choices, "models": [m for m in ready if m.engine in {c["name"] for c in choices}]}


class DpaPage(AppPage):
    """The agreement's text; the owner accepts it here (a plain form POST)."""

    page = "dpa"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        acceptance = dpa.accepted(context["tenant"])
        return {**context, "dpa_text": dpa.text(), "dpa_version": dpa.current_version(), "acceptance": acceptance}

    def post(self, request):
        membership = Membership.objects.select_related("tenant").filter(user=request.user).first()
        if membership is None or membership.role != Role.OWNER:
            raise PermissionDenied("Only the tenant's owner can accept the DPA")
        dpa.accept(tenant=membership.tenant, user=request.user, ip=client_ip(request))
        return redirect("page-dpa")
