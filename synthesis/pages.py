"""The browser app's pages. They render the shell; the data comes from the REST API
and the live channel (``/ws/``), with the browser session as credentials."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.views.generic import TemplateView

from sovits_site.middleware import client_ip
from synthesis.languages import LANGUAGES
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
