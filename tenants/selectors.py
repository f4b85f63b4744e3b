from __future__ import annotations

import uuid

from sovits_site.errors import ApiError
from tenants.models import ApiKey, Tenant


def api_key_list(*, tenant: Tenant) -> list[ApiKey]:
    return list(ApiKey.objects.filter(tenant=tenant).order_by("-created_at"))


def api_key_get(*, tenant: Tenant, key_id: uuid.UUID | str) -> ApiKey:
    api_key = ApiKey.objects.filter(tenant=tenant, id=key_id).first()
    if api_key is None:
        raise ApiError("NOT_FOUND", "API key not found", details={"key_id": str(key_id)})
    return api_key
