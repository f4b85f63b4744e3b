"""Object storage benchmark: put and get latency and throughput, local folder and S3 side by side.

For 100 KB and 10 MB objects of random bytes, on each backend:

- ``put`` / ``get``: ``synthesis.storage.put`` and ``get``, what the service does (AES-256-GCM
  sealing under a tenant's key included, streamed in 1 MiB chunks);
- ``raw_write`` / ``raw_read``: the store's own ``write`` and ``read`` of the same bytes, unsealed
  (the difference is the cost of encryption).

Backends: ``local``, a folder (each write synced to disk, then renamed into place), and
``seaweedfs``, a bucket of SeaweedFS's S3 gateway (``weed mini`` on this machine, started by
``deploy.object_store.seaweed``: loopback, no network). Each iteration runs every operation on
both backends in turn, so both see the same load. Every object is deleted after it is read.

Latencies in ms (p50, p95, mean); throughput in MB/s (10^6 bytes) of the mean. The load averages
before and after are in ``machine``. Prints JSON on stdout, progress on stderr. Run:
``.venv/bin/python bench/storage.py [--iterations 20]``.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKDIR = Path(tempfile.mkdtemp(prefix="sovits-storage-bench-"))
atexit.register(shutil.rmtree, WORKDIR, ignore_errors=True)
os.environ["DJANGO_SETTINGS_MODULE"] = "sovits_site.settings.base"
os.environ["VAR_DIR"] = str(WORKDIR / "var")  # its own keys and storage; no database is touched
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")  # never contacted
for _name in ("STORAGE_URL", "STORAGE_ROOT"):
    os.environ.pop(_name, None)

SIZES = {"100KB": 100 * 1000, "10MB": 10 * 1000 * 1000}
OPERATIONS = ("put", "get", "raw_write", "raw_read")


def _say(*parts) -> None:
    print("[storage]", *parts, file=sys.stderr, flush=True)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _figures(seconds: list[float], size: int) -> dict:
    ordered = sorted(seconds)
    mean = statistics.mean(ordered)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000, 2),
        "mean_ms": round(mean * 1000, 2),
        "mb_per_s": round(size / mean / 1e6, 1),
    }


def _once(tenant, store, data: bytes) -> dict[str, float]:
    """Each operation once on the configured storage: seconds by operation."""
    from synthesis import storage
    from synthesis.object_stores import CHUNK

    timings = {}
    started = time.perf_counter()
    key = storage.put(tenant=tenant, kind="bench", data=data)
    timings["put"] = time.perf_counter() - started
    started = time.perf_counter()
    back = storage.get(tenant=tenant, object_key=key)
    timings["get"] = time.perf_counter() - started
    if back != data:
        raise SystemExit(f"{key} came back different")
    storage.delete(object_key=key)

    name = f"raw/{uuid.uuid4().hex}.bin"
    view = memoryview(data)
    started = time.perf_counter()
    store.write(name, (view[i : i + CHUNK] for i in range(0, len(view), CHUNK)))
    timings["raw_write"] = time.perf_counter() - started
    started = time.perf_counter()
    size = sum(len(chunk) for chunk in store.read(name))
    timings["raw_read"] = time.perf_counter() - started
    if size != len(data):
        raise SystemExit(f"{name}: read {size} bytes of {len(data)}")
    store.delete(name)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20, help="measured runs of each operation (default 20)")
    parser.add_argument("--small-factor", type=int, default=5,
                        help="100 KB objects get this many times the iterations (they are quick)")  # fmt: skip
    args = parser.parse_args()

    import django

    django.setup()
    from django.test import override_settings

    from deploy.object_store import seaweed
    from synthesis import object_stores, storage
    from tenants import keys
    from tenants.models import Tenant

    tenant_id = uuid.uuid4()  # a tenant as storage sees one (id, region, data key); it is never saved
    tenant = Tenant(id=tenant_id, slug="bench", wrapped_data_key=keys.new_wrapped_data_key(str(tenant_id)))
    load_before = _load()
    _say(f"working in {WORKDIR}; starting SeaweedFS")
    with seaweed(WORKDIR / "s3", buckets=("sovits",)) as s3:
        os.environ.update(s3.env)
        object_stores.reset_clients()
        backends = {"local": str(WORKDIR / "storage"), "seaweedfs": "s3://sovits/bench"}
        configured = {
            name: override_settings(STORAGE_URL=object_stores.normalise(url),
                                    STORAGE_URLS={tenant.region: object_stores.join(url, tenant.region)})
            for name, url in backends.items()
        }  # fmt: skip
        timings = {name: {size: {op: [] for op in OPERATIONS} for size in SIZES} for name in backends}
        for size_name, size in SIZES.items():
            data = os.urandom(size)
            runs = args.iterations * (args.small_factor if size < 1_000_000 else 1)
            _say(f"{size_name}: {runs} iterations on {', '.join(backends)}")
            for iteration in range(runs + 1):  # the first warms each path up and is not counted
                for name, overridden in configured.items():
                    with overridden:
                        once = _once(tenant, storage.store(tenant.region), data)
                    if iteration:
                        for op, seconds in once.items():
                            timings[name][size_name][op].append(seconds)

    report = {
        "iterations": {size_name: len(timings["local"][size_name]["put"]) for size_name in SIZES},
        "backends": {name: {"url": object_stores.normalise(url)} for name, url in backends.items()},
        "machine": {"cpus": os.cpu_count(), "load_before": load_before, "load_after": _load()},
    }
    for name in backends:
        for size_name, size in SIZES.items():
            report["backends"][name][size_name] = {
                op: _figures(seconds, size) for op, seconds in timings[name][size_name].items()
            }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
