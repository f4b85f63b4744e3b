"""The browser app's pages. They render the shell; the data comes from the REST API
and the live channel (``/ws/``), with the browser session as credentials."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.views.generic import TemplateView

from synthesis.languages import LANGUAGES
from tenants.models import Membership, Role


class AppPage(LoginRequiredMixin, TemplateView):
    page = ""
    admin_only = False

    def get_template_names(self) -> list[str]:
        return [f"app/{self.page}.html"]

    def get_context_data(self, **kwargs):
        membership = Membership.objects.select_related("tenant").filter(user=self.request.user).first()
        if membership is None:
            raise PermissionDenied("This account belongs to no tenant")
        if self.admin_only and membership.role not in (Role.OWNER, Role.ADMIN):
            raise PermissionDenied("Only owners and admins manage API keys")
        return super().get_context_data(
            tenant=membership.tenant,
            role=membership.role,
            languages=list(LANGUAGES.items()),
            page=self.page,
            **kwargs,
        )
