"""Copying a deployment's stored objects to another location (``manage.py storage_copy``).

Each served region's store is copied to ``<to>/<region>/`` and the objects written before
regions existed (those of STORAGE_URL's store outside its region folders) to ``<to>`` itself,
each under its own name: the settings put each region's store in a folder of STORAGE_URL, so
``STORAGE_URL=<to>`` alone then serves every object. Stores hold only ciphertext, so nothing is
decrypted and no tenant's key is needed.

A copy may be stopped and run again: an object already at the destination with the same size
and SHA-256 is left alone, one that differs is written again. Every object written is read back
and its SHA-256 compared with the source's. Objects stream through in chunks, never whole.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings

from synthesis import object_stores, storage
from synthesis.object_stores import Entry, LocalStore, S3Store

LEGACY = "legacy"  # the report's name for the objects whose keys have no region

COPIED, ALREADY_THERE, FAILED, VANISHED, WOULD_COPY = "copied", "already_there", "failed", "vanished", "would_copy"


class CopyRefused(Exception):
    pass


@dataclass
class PartReport:
    """One source store's copy. In a dry run, ``copied`` and ``bytes_copied`` count what would be."""

    source: str
    destination: str
    copied: int = 0
    already_there: int = 0
    vanished: int = 0  # listed, then deleted at the source before it was read (a purge running meanwhile)
    bytes_copied: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # object key: why
    would_copy: list[str] = field(default_factory=list)  # a dry run's object keys

    def counts(self) -> dict[str, int]:
        return {COPIED: self.copied, ALREADY_THERE: self.already_there, FAILED: len(self.failed),
                VANISHED: self.vanished, "bytes_copied": self.bytes_copied}  # fmt: skip


@dataclass
class CopyReport:
    destination: str
    dry_run: bool
    parts: dict[str, PartReport] = field(default_factory=dict)  # by region, and LEGACY

    @property
    def failed(self) -> dict[str, str]:
        return {key: why for part in self.parts.values() for key, why in part.failed.items()}

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for part in self.parts.values():
            for name, count in part.counts().items():
                totals[name] = totals.get(name, 0) + count
        return totals

    def as_dict(self) -> dict:
        return {
            "destination": self.destination,
            "dry_run": self.dry_run,
            "parts": {label: {"source": part.source, "destination": part.destination, **part.counts(),
                              "failed_objects": part.failed, **({WOULD_COPY: part.would_copy} if self.dry_run else {})}
                      for label, part in self.parts.items()},
            "total": self.totals(),
        }  # fmt: skip


Store = LocalStore | S3Store


@dataclass(frozen=True)
class _Part:
    label: str
    source: Store
    destination: Store
    key_prefix: str  # what makes a name of the source an object key
    not_ours: tuple[str, ...] = ()  # name prefixes of the source that are other stores' objects


class _Vanished(Exception):
    pass


def objects_copy(
    *,
    to: str,
    region: str | None = None,
    dry_run: bool = False,
    jobs: int = 4,
    progress: Callable[[str, str, int], None] | None = None,
) -> CopyReport:
    """Copy every object of the served regions' stores (or ``region``'s only) and the objects of
    keys without a region (unless ``region``) to ``to``. ``progress(outcome, object key, size)``
    hears of each object as it is done."""
    try:
        to = object_stores.normalise(to)
    except object_stores.StoreError as exc:
        raise CopyRefused(str(exc)) from exc
    report = CopyReport(destination=to, dry_run=dry_run)
    for part in _parts(to, region):
        report.parts[part.label] = _copy_part(part, dry_run=dry_run, jobs=jobs, progress=progress)
    return report


def _parts(to: str, region: str | None) -> list[_Part]:
    sources = {name: storage.store(name) for name in settings.REGIONS}
    legacy = storage.store(None)
    _refuse_overlap([to, *(object_stores.join(to, name) for name in settings.REGIONS)],
                    [legacy.url, *(store.url for store in sources.values())])  # fmt: skip
    parts = [
        _Part(name, sources[name], object_stores.open_store(object_stores.join(to, name)), f"{name}/")
        for name in ([region] if region else settings.REGIONS)
    ]
    if region is None:
        # The default store's folder usually holds the regions' stores: their objects are not
        # legacy ones. (A region store that *is* the default store shares its names with the
        # legacy objects; then both copies are needed.)
        inside = tuple(store.url[len(legacy.url) :] for store in sources.values()
                       if store.url.startswith(legacy.url) and store.url != legacy.url)  # fmt: skip
        known = tuple(f"{name}/" for name in settings.KNOWN_REGIONS)  # keys in these go to a region's store
        parts.append(_Part(LEGACY, legacy, object_stores.open_store(to), "", known + inside))
    return parts


def _refuse_overlap(destinations: list[str], sources: list[str]) -> None:
    """A destination inside a source would be copied into itself on the next run, and its
    copies taken for orphans by the purge, which lists each region's store."""
    for destination in destinations:
        for source in sources:
            if destination.startswith(source):
                how = "is" if destination == source else "is inside"
                raise CopyRefused(f"the destination {destination} {how} {source}, a store being copied from")


def _copy_part(part: _Part, *, dry_run: bool, jobs: int, progress) -> PartReport:
    """Copy in ``jobs`` threads (an S3 store answers each request in milliseconds; a folder's
    objects are small), with a bounded number in flight so that a listing of millions never
    sits in memory."""
    result = PartReport(source=part.source.url, destination=part.destination.url)
    in_flight: deque[tuple[Entry, Future]] = deque()
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="storage-copy") as pool:
        try:
            for entry in _entries(part):
                in_flight.append((entry, pool.submit(_copy_object, part, entry, dry_run)))
                if len(in_flight) >= 4 * jobs:
                    _record(result, part, *in_flight.popleft(), progress)
        except Exception as exc:  # the listing broke off: what it listed is still copied, and the run fails
            result.failed[f"{part.source.url} (listing)"] = f"{type(exc).__name__}: {exc}"
        while in_flight:
            _record(result, part, *in_flight.popleft(), progress)
    return result


def _entries(part: _Part) -> Iterable[Entry]:
    for entry in part.source.list():
        if not entry.name.startswith(part.not_ours):
            yield entry


def _record(result: PartReport, part: _Part, entry: Entry, done: Future, progress) -> None:
    key = part.key_prefix + entry.name
    try:
        outcome, size = done.result()
    except _Vanished:
        outcome, size = VANISHED, 0
        result.vanished += 1
    except Exception as exc:  # either backend's errors (OSError, botocore's) fail this object, not the run
        outcome, size = FAILED, 0
        result.failed[key] = f"{type(exc).__name__}: {exc}"
    else:
        if outcome == ALREADY_THERE:
            result.already_there += 1
        else:
            result.copied += 1
            result.bytes_copied += size
            if outcome == WOULD_COPY:
                result.would_copy.append(key)
    if progress is not None:
        progress(outcome, key, size)


def _copy_object(part: _Part, entry: Entry, dry_run: bool) -> tuple[str, int]:
    there = part.destination.stat(entry.name)
    if there is not None and there.size == entry.size:
        source_sum, _ = _sha256(_read_source(part, entry.name))
        if _sha256(part.destination.read(entry.name))[0] == source_sum:
            return ALREADY_THERE, entry.size
    if dry_run:
        return WOULD_COPY, entry.size
    digest = hashlib.sha256()
    size = part.destination.write(entry.name, _hashing(_read_source(part, entry.name), digest))
    back, back_size = _sha256(part.destination.read(entry.name))
    if (back, back_size) != (digest.hexdigest(), size):
        raise object_stores.StoreError(f"read back {back_size} bytes with SHA-256 {back}, wrote {size} with "
                                       f"{digest.hexdigest()}")  # fmt: skip
    return COPIED, size


def _read_source(part: _Part, name: str):
    try:
        return part.source.read(name)
    except object_stores.NotFound:
        raise _Vanished(name) from None


def _hashing(chunks: Iterable[bytes], digest) -> Iterable[bytes]:
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


def _sha256(chunks: Iterable[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in _hashing(chunks, digest):
        size += len(chunk)
    return digest.hexdigest(), size
