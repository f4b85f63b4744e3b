"""``manage.py check`` (and every start-up): the files each served engine needs are there.

A web node never loads an engine, but an operator running ``check`` there learns at
once that GPT-SoVITS workers would not start, and which file is missing. Where this
machine's workers run the engine (WORKER_ENGINES) it is an error, so ``migrate`` and
the worker's start stop on it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register

from synthesis.engines.gpt_sovits import assets


@register()
def gpt_sovits_assets(app_configs=None, **kwargs):
    if "gpt-sovits" not in settings.SYNTHESIS_ENGINES:
        return []
    # An error where this machine's workers run the engine; elsewhere (web nodes) a warning.
    level, code = (Error, "E001") if "gpt-sovits" in settings.WORKER_ENGINES else (Warning, "W001")
    hint = "Lay GPT_SOVITS_ASSETS_DIR out as the README's GPT-SoVITS section says."
    problems = assets.missing(settings.GPT_SOVITS_ASSETS_DIR)
    return [level(str(problem), hint=hint, id=f"synthesis.{code}") for problem in problems]


@register()
def public_base_url(app_configs=None, **kwargs):
    """Webhooks are sent by workers, which know no request's host: without PUBLIC_BASE_URL
    their ``result_url`` points at this machine's own address, which receivers elsewhere
    cannot reach."""
    if not settings.PRODUCTION or settings.PUBLIC_BASE_URL:
        return []
    return [
        Warning(
            f"PUBLIC_BASE_URL is not set: webhooks' result_url would start with {settings.LOCAL_BASE_URL}",
            hint="Set PUBLIC_BASE_URL to the address clients use, e.g. https://voice.example.com",
            id="synthesis.W002",
        )
    ]
