"""The browser app's pages. They render the shell; the data comes from the REST API
and the live channel (``/ws/``), with the browser session as credentials."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.utils.safestring import mark_safe
from django.views.generic import TemplateView
from markdown_it import MarkdownIt

from sovits_site.middleware import client_ip
from synthesis.engines import served
from synthesis.languages import LANGUAGES
from synthesis.models import ModelStatus
from synthesis.selectors import model_list
from tenants import dpa
from tenants.models import Membership, Role


def _membership(user) -> Membership | None:
    if user is None or not user.is_authenticated:
        return None
    return Membership.objects.select_related("tenant").filter(user=user).first()


def _shell(membership: Membership) -> dict:
    """What base.html's top bar shows: the workspace, the role, and whether the DPA banner is up."""
    return {
        "tenant": membership.tenant,
        "role": membership.role,
        "dpa_pending": dpa.accepted(membership.tenant) is None,
    }


def shell_context(request) -> dict:
    """The top bar for pages outside AppPage (the error pages): empty for a visitor."""
    membership = _membership(getattr(request, "user", None))
    return _shell(membership) if membership is not None else {}


class AppPage(LoginRequiredMixin, TemplateView):
    page = ""
    admin_only = False
    owner_only = False

    def get_template_names(self) -> list[str]:
        return [f"app/{self.page}.html"]

    def get_context_data(self, **kwargs):
        membership = _membership(self.request.user)
        if membership is None:
            raise PermissionDenied("This account belongs to no workspace")
        if self.admin_only and membership.role not in (Role.OWNER, Role.ADMIN):
            raise PermissionDenied("Only the workspace's owners and admins manage API keys")
        if self.owner_only and membership.role != Role.OWNER:
            raise PermissionDenied("Only the workspace's owner files privacy requests")
        return super().get_context_data(
            **_shell(membership),
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


# The agreement is operator-provided Markdown: rendered as a document, with any raw HTML in
# it escaped (html off) and links limited to safe schemes (markdown-it's validateLink).
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def agreement_html(text: str) -> str:
    """The agreement under the page's own <h1>: its leading title is dropped, other h1s become h2s."""
    tokens = _MARKDOWN.parse(text)
    if len(tokens) >= 3 and tokens[0].type == "heading_open" and tokens[0].tag == "h1":
        tokens = tokens[3:]
    for token in tokens:
        if token.type in ("heading_open", "heading_close") and token.tag == "h1":
            token.tag = "h2"
    return _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})


class DpaPage(AppPage):
    """The agreement's text; the owner accepts it here (a plain form POST)."""

    page = "dpa"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        acceptance = dpa.accepted(context["tenant"])
        agreement = mark_safe(agreement_html(dpa.text()))  # noqa: S308 - markdown-it escapes HTML (html off)
        return {**context, "dpa_html": agreement, "dpa_version": dpa.current_version(), "acceptance": acceptance}

    def post(self, request):
        membership = Membership.objects.select_related("tenant").filter(user=request.user).first()
        if membership is None or membership.role != Role.OWNER:
            raise PermissionDenied("Only the tenant's owner can accept the DPA")
        dpa.accept(tenant=membership.tenant, user=request.user, ip=client_ip(request))
        return redirect("page-dpa")


class WorkspaceErasedPage(TemplateView):
    """Where the owner lands after asking to erase the whole workspace: signed out by then, so
    the workspace's name comes from the fresh session the erasure left behind."""

    template_name = "erased.html"

    def get(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            return redirect("home")
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return super().get_context_data(workspace=self.request.session.get("erased_workspace"), **kwargs)
