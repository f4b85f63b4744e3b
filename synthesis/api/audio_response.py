"""Audio answers that honour HTTP Range (a single byte range), so players can seek."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from django.http import HttpResponse
from django.utils.text import slugify

from sovits_site.errors import ApiError

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def content_disposition(filename: str, *, download: bool) -> str:
    """RFC 6266: an ASCII ``filename`` every client reads, and ``filename*`` with the name as
    it is (accents, other scripts) for those that can (all current browsers)."""
    kind = "attachment" if download else "inline"
    stem, dot, ext = filename.rpartition(".")
    plain = slugify(unicodedata.normalize("NFKD", stem if dot else filename)) or "audio"
    ascii_name = f"{plain}.{ext}" if dot else plain
    if ascii_name == filename:
        return f'{kind}; filename="{ascii_name}"'
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


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
    response["Content-Disposition"] = content_disposition(filename, download=download)
    response["Cache-Control"] = "private, max-age=3600"
    return response
