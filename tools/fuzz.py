"""Fuzz the REST API with Schemathesis, from its own OpenAPI schema (``make fuzz``).

Starts the whole stack in a scratch directory (as `make run` does), creates a
tenant, an API key and a ready voice, then runs Schemathesis against
``/api/schema/`` with checks for server errors and for answers that break the
schema (status codes, content types, headers, bodies). Exit status is
Schemathesis's: non-zero if any check failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy.sandbox import live_stack  # noqa: E402

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=30, help="cases per operation and phase")
    parser.add_argument("--report", default=str(ROOT / "test-artifacts" / "fuzz"))
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="sovits-fuzz-"))
    limits = {"QUOTA_REQUESTS_PER_MINUTE": "1000000", "QUOTA_CONCURRENT_TASKS": "1000000",
              "QUOTA_DAILY_TASKS": "1000000", "QUOTA_MONTHLY_CHARACTERS": "1000000000",
              "EMBEDDED_VARIANTS": ",f3"}  # fmt: skip
    with live_stack(scratch, **limits) as stack:
        stack.manage("createtenant", "fuzz", "--owner", "fuzz", "--password", "fuzz-password-1", "--accept-dpa")
        key = stack.manage("createapikey", "--tenant", "fuzz", "--scopes", "synthesize,voices:write,read,admin")
        key = key.strip().splitlines()[-1]
        api = httpx.Client(base_url=stack.base, headers={"X-API-Key": key}, timeout=60)
        voice = ROOT / "tests" / "fixtures" / "voices" / "118-121721-0000.flac"
        with open(voice, "rb") as fh:
            voice_id = api.post("/api/v1/speakers", data={"name": "fuzz", "language": "en"},
                                files={"audio": ("v.flac", fh)}).json()["id"]  # fmt: skip
        while api.get(f"/api/v1/speakers/{voice_id}").json()["status"] == "PROCESSING":
            time.sleep(0.5)
        command = [
            str(Path(sys.executable).parent / "st"), "run", f"{stack.base}/api/schema/",
            "--header", f"X-API-Key: {key}",
            "--checks", CHECKS,
            "--max-examples", str(args.max_examples),
            "--workers", "2",
            "--seed", "1",
            "--request-timeout", "60",
            "--report", "junit", "--report-dir", args.report,
        ]  # fmt: skip
        return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
