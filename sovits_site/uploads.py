"""Upload handling that keeps files in memory and stops at the size cap.

Django's default handlers spool large uploads to a temporary file; audio is
personal data and must never touch the disk unencrypted, so uploads stay in
memory, and a body past ``MAX_UPLOAD_BYTES`` (even one sent chunked, without a
Content-Length for the middleware to check) is abandoned as soon as it crosses it.
"""

from __future__ import annotations

from io import BytesIO

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

MODEL_UPLOAD_PATH = "/api/v1/models"


def file_limit(request) -> int:
    """The largest file this request may carry: a model's (tenants upload GPT-SoVITS pairs) or audio's."""
    return settings.MODEL_MAX_BYTES if request.path == MODEL_UPLOAD_PATH else settings.MAX_UPLOAD_BYTES


def body_limit(request) -> int:
    """The largest body: two model files, or one audio file; multipart framing adds a little."""
    files = 2 if request.path == MODEL_UPLOAD_PATH else 1
    return files * file_limit(request) + 64 * 1024


class CappedMemoryUploadHandler(FileUploadHandler):
    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.buffer = BytesIO()
        self.size = 0

    def receive_data_chunk(self, raw_data, start):
        self.size += len(raw_data)
        if self.size > file_limit(self.request):
            self.request.upload_too_large = True
            raise StopUpload(connection_reset=False)
        self.buffer.write(raw_data)
        return None

    def file_complete(self, file_size):
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )
