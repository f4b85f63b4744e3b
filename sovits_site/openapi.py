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
