"""Decoding untrusted audio in a separate, limited process.

libsndfile and its codecs are C: a crafted file that crashes or exhausts them
must not take the web worker with it. The child gets an address-space and CPU
limit and a wall-clock timeout; it only ever sees the bytes, and answers with
raw float32 samples.

Run as ``python -m synthesis.audio_sandbox MAX_SECONDS``: audio on stdin,
``rate`` as 4 bytes then samples on stdout.
"""

from __future__ import annotations

import resource
import struct
import subprocess
import sys

import numpy as np

from synthesis.audio import AudioDecodeError, DecodedAudio

MEMORY_LIMIT_BYTES = 1024 * 1024 * 1024
CPU_LIMIT_SECONDS = 20
TIMEOUT_SECONDS = 30


def _limit() -> None:  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_SECONDS, CPU_LIMIT_SECONDS))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def decode_isolated(data: bytes, *, max_seconds: float) -> DecodedAudio:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "synthesis.audio_sandbox", str(max_seconds)],
            input=data,
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
            preexec_fn=_limit,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AudioDecodeError("decoding took too long") from exc
    if done.returncode == 2:
        raise AudioDecodeError(done.stderr.decode(errors="replace").strip() or "not a readable audio file")
    if done.returncode != 0 or len(done.stdout) < 4:
        raise AudioDecodeError("the decoder failed on this file")
    (rate,) = struct.unpack("<I", done.stdout[:4])
    samples = np.frombuffer(done.stdout[4:], dtype=np.float32).copy()
    return DecodedAudio(samples=samples, sample_rate=rate, format="")


def _child(max_seconds: float) -> int:
    from synthesis.audio import decode

    try:
        decoded = decode(sys.stdin.buffer.read(), max_seconds=max_seconds)
    except AudioDecodeError as exc:
        sys.stderr.write(str(exc))
        return 2
    sys.stdout.buffer.write(struct.pack("<I", decoded.sample_rate))
    sys.stdout.buffer.write(decoded.samples.astype(np.float32).tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(_child(float(sys.argv[1])))
