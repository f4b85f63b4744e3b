"""Where sealed objects lie: a folder on local disk, or a bucket of an S3-compatible store.

A store knows nothing of tenants or encryption: it keeps opaque bytes under names
(``<tenant id>/<kind>/<object id>.bin``), written whole or not at all, read in
chunks so that a large object never has to sit in memory twice. ``synthesis.storage``
seals and unseals; this module only moves ciphertext.

Locations are URLs: ``s3://bucket/prefix`` for a bucket, a plain path or
``file:///path`` for a folder. The S3 client is configured the standard way
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_REGION`` or the rest of boto3's credential chain), so AWS S3, MinIO, Ceph,
R2 and SeaweedFS all serve.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

CHUNK = 1024 * 1024  # what a read yields at a time
PART = 8 * 1024 * 1024  # S3 multipart part size, and the size above which uploads use parts


class StoreError(Exception):
    pass


class NotFound(StoreError):
    pass


class StoreUnavailable(StoreError):
    """The store did not answer, or answered that it cannot serve now (worth retrying later)."""


@dataclass(frozen=True)
class Entry:
    name: str
    size: int
    modified: float  # seconds since the epoch


def normalise(url: str) -> str:
    """The canonical form of a location: ``s3://bucket/prefix/`` or ``file:///abs/path/``."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise StoreError(f"{url!r} names no bucket (s3://bucket/prefix)")
        prefix = parsed.path.strip("/")
        return f"s3://{parsed.netloc}/{prefix + '/' if prefix else ''}"
    if parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme == "file" else url).resolve()
        return f"file://{path.as_posix().rstrip('/')}/"
    raise StoreError(f"{url!r}: storage URLs are s3://bucket/prefix, file:///path or a path")


def join(url: str, name: str) -> str:
    return normalise(url) + name.strip("/") + "/"


def overlapping(urls: dict[str, str]) -> tuple[str, str] | None:
    """Two labels whose locations are the same or one inside the other, if any: a location
    inside another would have its objects taken for the other's orphans."""
    canonical = {label: normalise(url) for label, url in urls.items()}
    for label, url in canonical.items():
        for other, other_url in canonical.items():
            if label != other and other_url.startswith(url):
                return label, other
    return None


class LocalStore:
    """A folder. Writes go to a temporary name, are synced, and are renamed into place."""

    def __init__(self, root: Path):
        self.root = root
        self.url = normalise(str(root))

    def _path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if self.root.resolve() not in path.parents:
            raise StoreError(f"object name escapes the storage root: {name!r}")
        return path

    def write(self, name: str, chunks: Iterable[bytes]) -> int:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        size = 0
        try:
            with open(tmp, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                    size += len(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return size

    def read(self, name: str) -> Iterator[bytes]:
        try:
            fh = open(self._path(name), "rb")  # noqa: SIM115 (closed by the generator)
        except FileNotFoundError:
            raise NotFound(name) from None
        return _file_chunks(fh)

    def stat(self, name: str) -> Entry | None:
        try:
            st = self._path(name).stat()
        except FileNotFoundError:
            return None
        return Entry(name, st.st_size, st.st_mtime)

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self._path(prefix.rstrip("/")), ignore_errors=True)

    def list(self, prefix: str = "") -> Iterator[Entry]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        for folder, _, files in os.walk(base):  # lazily: a store may hold millions of objects
            for file in files:
                if file.endswith(".tmp"):  # a write in flight (or cut short)
                    continue
                path = Path(folder) / file
                try:
                    st = path.stat()
                except FileNotFoundError:  # deleted meanwhile
                    continue
                yield Entry(path.relative_to(self.root).as_posix(), st.st_size, st.st_mtime)


def _file_chunks(fh) -> Iterator[bytes]:
    with fh:
        while chunk := fh.read(CHUNK):
            yield chunk


class S3Store:
    """A bucket (and a prefix in it) of an S3-compatible store. An object appears whole or not
    at all (S3's PUT and CompleteMultipartUpload are atomic)."""

    def __init__(self, bucket: str, prefix: str):
        self.bucket, self.prefix = bucket, prefix
        self.url = f"s3://{bucket}/{prefix}"

    @property
    def client(self):
        return _client()

    def _key(self, name: str) -> str:
        if name.startswith("/") or ".." in name.split("/"):
            raise StoreError(f"object name escapes the storage prefix: {name!r}")
        return self.prefix + name

    def write(self, name: str, chunks: Iterable[bytes]) -> int:
        with _answering():
            return self._write(name, chunks)

    def _write(self, name: str, chunks: Iterable[bytes]) -> int:
        """Small objects in one PUT; larger ones in parts of about PART bytes, so only one part
        at a time is held (an interrupted upload is aborted, leaving nothing)."""
        key, parts, pending, pending_size, size = self._key(name), [], [], 0, 0
        upload_id = None
        try:
            for chunk in chunks:
                pending.append(chunk)
                pending_size += len(chunk)
                size += len(chunk)
                if pending_size >= PART:
                    if upload_id is None:
                        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
                    part, pending, pending_size = b"".join(pending), [], 0
                    parts.append(self._part(key, upload_id, len(parts) + 1, part))
            if upload_id is None:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=b"".join(pending))
                return size
            if pending:
                parts.append(self._part(key, upload_id, len(parts) + 1, b"".join(pending)))
            self.client.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                  MultipartUpload={"Parts": parts})  # fmt: skip
            return size
        except BaseException:
            if upload_id is not None:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    def _part(self, key: str, upload_id: str, number: int, data: bytes) -> dict:
        answer = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data)
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def read(self, name: str) -> Iterator[bytes]:
        with _answering():
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"]
            except self.client.exceptions.NoSuchKey:
                raise NotFound(name) from None
            except self.client.exceptions.NoSuchBucket:
                raise StoreError(f"the bucket {self.bucket!r} does not exist") from None
        return _body_chunks(body)

    def stat(self, name: str) -> Entry | None:
        from botocore.exceptions import ClientError

        with _answering():
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=self._key(name))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise
        return Entry(name, head["ContentLength"], head["LastModified"].timestamp())

    def delete(self, name: str) -> None:
        with _answering():
            self.client.delete_object(Bucket=self.bucket, Key=self._key(name))  # absent is not an error in S3

    def delete_prefix(self, prefix: str) -> None:
        with _answering():
            self._delete_prefix(prefix)

    def _delete_prefix(self, prefix: str) -> None:
        batch = []
        for entry in self.list(prefix.rstrip("/") + "/"):
            batch.append({"Key": self._key(entry.name)})
            if len(batch) == 1000:  # DeleteObjects' limit
                self._delete_batch(batch)
                batch = []
        if batch:
            self._delete_batch(batch)

    def _delete_batch(self, batch: list[dict]) -> None:
        answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        if answer.get("Errors"):
            raise StoreError(f"the store kept {len(answer['Errors'])} object(s): {answer['Errors'][0]}")

    def list(self, prefix: str = "") -> Iterator[Entry]:
        with _answering():
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix))
            for page in pages:
                for item in page.get("Contents", ()):
                    yield Entry(item["Key"][len(self.prefix) :], item["Size"], item["LastModified"].timestamp())


def _body_chunks(body) -> Iterator[bytes]:
    try:
        with _answering():
            yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


@contextmanager
def _answering():
    """Connection failures and the store's own 5xx answers become StoreUnavailable (after boto3's
    retries); a refusal (403, a missing bucket) stays a ClientError: that is a configuration error."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            raise StoreUnavailable(f"the object store failed: {exc}") from exc
        raise
    except BotoCoreError as exc:
        raise StoreUnavailable(f"the object store is unreachable: {exc}") from exc


_clients: dict[int, object] = {}
_clients_lock = threading.Lock()


def _client():
    """One boto3 client per process (clients are thread-safe; creating them is not)."""
    client = _clients.get(os.getpid())
    if client is None:
        with _clients_lock:
            client = _clients.get(os.getpid())
            if client is None:
                import boto3
                from botocore.config import Config

                config = Config(
                    region_name=os.environ.get("AWS_REGION") or None,
                    retries={"mode": "standard", "max_attempts": 3},  # a dead store fails a request in seconds
                    max_pool_connections=32,
                    connect_timeout=5,  # a store that does not answer fails the request, not holds it
                    read_timeout=30,
                    s3={"addressing_style": os.environ.get("AWS_S3_ADDRESSING_STYLE", "auto")},
                )
                client = boto3.session.Session().client("s3", config=config)
                _clients.clear()
                _clients[os.getpid()] = client
    return client


def reset_clients() -> None:
    """Forget the client (tests that change the endpoint or credentials)."""
    with _clients_lock:
        _clients.clear()


def open_store(url: str) -> LocalStore | S3Store:
    canonical = normalise(url)
    parsed = urlparse(canonical)
    if parsed.scheme == "s3":
        return S3Store(parsed.netloc, parsed.path.lstrip("/"))
    return LocalStore(Path(parsed.path))
