"""Secrets for the embedded default: generated once into ``var/`` and reused.

Production sets ``SECRET_KEY`` and ``MASTER_KEY`` in the environment and never
reaches this module (the settings refuse to start without them there).
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path


def load_or_create(path: Path, *, nbytes: int = 32) -> str:
    """Return the urlsafe-base64 secret stored at ``path``, creating it (mode 0600) if absent."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).decode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its secret
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value
