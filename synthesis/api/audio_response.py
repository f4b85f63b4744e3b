"""Audio answers that honour HTTP Range (a single byte range), so players can seek."""

from __future__ import annotations

import re

from django.http import HttpResponse

from sovits_site.errors import ApiError

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def audio_response(request, data: bytes, *, content_type: str, filename: str, download: bool) -> HttpResponse:
    size = len(data)
    header = request.META.get("HTTP_RANGE", "").strip()
    match = _RANGE.match(header) if header else None
    status, body, content_range = 200, data, None
    if match and (match[1] or match[2]):  # several ranges or other units: answer whole, as RFC 9110 allows
        if match[1]:
            start = int(match[1])
            end = min(int(match[2]), size - 1) if match[2] else size - 1
        else:  # suffix range: the last N bytes
            start, end = max(0, size - int(match[2])), size - 1
        if start >= size or start > end:
            raise ApiError("RANGE_NOT_SATISFIABLE", details={"size": size, "range": header})
        status, body, content_range = 206, data[start : end + 1], f"bytes {start}-{end}/{size}"
    response = HttpResponse(body, status=status, content_type=content_type)
    response["Accept-Ranges"] = "bytes"
    response["Content-Length"] = str(len(body))
    if content_range:
        response["Content-Range"] = content_range
    response["Content-Disposition"] = f'{"attachment" if download else "inline"}; filename="{filename}"'
    response["Cache-Control"] = "private, max-age=3600"
    return response
