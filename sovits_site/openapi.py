"""OpenAPI: the error envelope, declared once and referenced by every operation."""

from __future__ import annotations

from sovits_site.errors import CATALOGUE

_ERROR_STATUSES = sorted({str(code.status) for code in CATALOGUE.values()})


ERROR_ENVELOPE = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "category", "message", "retryable", "details", "request_id"],
            "properties": {
                "code": {"type": "string", "enum": sorted(CATALOGUE), "description": "Stable; see docs/errors.md"},
                "category": {"type": "string", "enum": ["CLIENT", "SERVER", "SYSTEM"]},
                "message": {"type": "string"},
                "retryable": {"type": "boolean"},
                "details": {"type": "object", "additionalProperties": True},
                "request_id": {"type": "string", "nullable": True},
            },
        }
    },
}


def add_error_envelope(result, generator, request, public):
    """Declare the envelope once and reference it from every operation's error answers."""
    result.setdefault("components", {}).setdefault("schemas", {})["ErrorEnvelope"] = ERROR_ENVELOPE
    reference = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status in _ERROR_STATUSES:
                responses.setdefault(
                    status,
                    {"description": "Error (see `code`)", "content": {"application/json": {"schema": reference}}},
                )
    return result


# Operations grouped for the docs page, in this order; the first matching path prefix wins.
TAGS = [
    ("Voices", "Reference recordings and the voices made from them", ("/api/v1/speakers",)),
    ("Tasks", "Synthesis tasks: create, follow, cancel, fetch the audio, its words and subtitles",
     ("/api/v1/tasks", "/api/v1/results")),
    ("Batches", "Many requests at once, validated all or nothing", ("/api/v1/batches",)),
    ("Engines and models", "The engines served and the GPT-SoVITS models", ("/api/v1/engines", "/api/v1/models")),
    ("Webhooks", "The signing secret of task and batch events", ("/api/v1/webhooks",)),
    ("Usage", "This month's use against the quotas", ("/api/v1/usage",)),
    ("Authentication", "Tokens, WebSocket tickets", ("/api/v1/auth",)),
    ("API keys", "Keys for servers and scripts", ("/api/v1/keys",)),
    ("Data Processing Agreement", "The DPA an owner accepts before synthesizing", ("/api/v1/dpa",)),
    ("Privacy", "Data-subject (GDPR) requests", ("/api/v1/privacy",)),
    ("GPT-SoVITS compatible", "api_v2's endpoints, for existing clients", ("/tts", "/set_gpt_weights",
                                                                            "/set_sovits_weights")),
    ("OpenAI compatible", "OpenAI's speech endpoints, for the openai client and tools", ("/v1/",)),
    ("Errors", "The error catalogue", ("/api/errors",)),
]  # fmt: skip


def tag_operations(result, generator, request, public):
    """One tag per operation, by its path (``TAGS``), so the docs page shows groups instead of
    one long list; a path no group claims keeps its first segment as its tag."""
    for path, path_item in result.get("paths", {}).items():
        tag = next((name for name, _, prefixes in TAGS if path.startswith(prefixes)), None)
        for operation in path_item.values():
            if tag is not None:
                operation["tags"] = [tag]
    result["tags"] = [{"name": name, "description": description} for name, description, _ in TAGS]
    return result
