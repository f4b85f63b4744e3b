"""Upstream GPT-SoVITS checkpoint formats: reading them safely, and telling versions apart.

- GPT (s1) ``.ckpt``: ``torch.save({"weight": state dict, "config": dict, "info": str})``,
  keys ``model.`` + Text2SemanticDecoder, transformer layers under ``model.h.layers.N.``.
- SoVITS (s2) ``.pth``: ``{"weight": state dict without enc_q, "config": HParams, "info": str}``.
  The config is upstream's ``utils.HParams`` object, pickled. Version 1 and 2 files are
  plain zip archives (``PK``); later versions replace the first two bytes with a version
  mark (``05`` v2Pro, ``06`` v2ProPlus, ``03``/``04`` v3/v4 LoRA) that is put back before
  unzipping.

Checkpoints are pickles. They are only ever read with ``torch.load(weights_only=True)``,
which refuses any global not on its allow-list; upstream's HParams is allowed under its
pickled name and rebuilt as plain data. Nothing in a file can run code here.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

SUPPORTED_VERSIONS = ("v2", "v2Pro", "v2ProPlus")

# The first two bytes of an upstream s2 file, as upstream's process_ckpt.py writes them.
_HEAD_VERSIONS = {
    b"00": "v1",
    b"01": "v2",
    b"02": "v3",
    b"03": "v3",  # LoRA
    b"04": "v4",  # LoRA
    b"05": "v2Pro",
    b"06": "v2ProPlus",
    b"07": "v4",
}
_ZIP_MAGIC = b"PK"
_V1_SYMBOLS, _V2_SYMBOLS = 322, 732


class CheckpointError(ValueError):
    """The file is not a usable checkpoint; ``code`` is the API error code to report."""

    def __init__(self, code: str, message: str, **details):
        super().__init__(message)
        self.code = code
        self.details = details


class HParams:
    """Upstream's ``utils.HParams``: an attribute bag. Only its data is kept."""

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


def _plain(value: Any) -> Any:
    if isinstance(value, HParams):
        return {key: _plain(item) for key, item in vars(value).items()}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _check_archive(source: BinaryIO, what: str) -> None:
    """Every member's CRC: torch.load reads altered bytes without noticing."""
    try:
        damaged = zipfile.ZipFile(source).testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError("MODEL_INVALID", f"The {what} file is not a checkpoint archive", file=what) from exc
    if damaged is not None:
        raise CheckpointError(
            "MODEL_INVALID", f"The {what} file is corrupted (its part {damaged!r} fails its checksum)", file=what
        )
    source.seek(0)


def _torch_load(source: BinaryIO, what: str) -> dict:
    import torch

    _check_archive(source, what)
    try:
        with torch.serialization.safe_globals([(HParams, "utils.HParams")]):
            data = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refused a global: a pickle that would build (or run) something else.
        raise CheckpointError(
            "MODEL_INVALID", f"The {what} file holds objects that are not model weights; refused", file=what
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, KeyError) as exc:
        raise CheckpointError(
            "MODEL_INVALID", f"The {what} file is not a readable checkpoint ({type(exc).__name__})", file=what
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("weight"), dict) or "config" not in data:
        raise CheckpointError("MODEL_INVALID", f"The {what} file has no 'weight' and 'config' entries", file=what)
    return data


@dataclass
class SovitsCheckpoint:
    version: str
    config: dict
    weights: dict


@dataclass
class GptCheckpoint:
    config: dict
    weights: dict


def _open(source: str | Path | bytes) -> BinaryIO:
    if isinstance(source, bytes):
        return io.BytesIO(source)
    return open(source, "rb")


def read_sovits(source: str | Path | bytes) -> SovitsCheckpoint:
    """Read an s2 ``.pth`` and tell its version; refuse v1, v3, v4 and anything unreadable."""
    with _open(source) as file:
        head = file.read(2)
        if head != _ZIP_MAGIC and head not in _HEAD_VERSIONS:
            raise CheckpointError(
                "MODEL_INVALID", f"The SoVITS file does not start like a GPT-SoVITS checkpoint (header {head!r})",
                file="sovits", header=head.hex(),
            )  # fmt: skip
        marked = _HEAD_VERSIONS.get(head)
        if marked is not None and marked not in SUPPORTED_VERSIONS:
            raise _unsupported(marked, "the file's version mark")
        data = _torch_load(io.BytesIO(_ZIP_MAGIC + file.read()), "sovits")
    config = _plain(data["config"])
    weights = data["weight"]
    version = marked or _version_from_contents(config, weights)
    if version not in SUPPORTED_VERSIONS:
        raise _unsupported(version, "the file's contents")
    if not isinstance(config.get("model"), dict) or not isinstance(config.get("data"), dict):
        raise CheckpointError("MODEL_INVALID", "The SoVITS file's config has no 'model' and 'data' sections")
    return SovitsCheckpoint(version=version, config=config, weights=weights)


def _version_from_contents(config: dict, weights: dict) -> str:
    if any(key.startswith("cfm.") for key in weights):
        return "v4" if config.get("model", {}).get("version") == "v4" else "v3"
    declared = config.get("model", {}).get("version")
    if declared:
        return str(declared)
    embedding = weights.get("enc_p.text_embedding.weight")
    if embedding is not None and embedding.shape[0] == _V1_SYMBOLS:
        return "v1"
    if embedding is not None and embedding.shape[0] == _V2_SYMBOLS:
        return "v2"
    raise CheckpointError("MODEL_INVALID", "The SoVITS file's weights are not those of a GPT-SoVITS model")


def _unsupported(version: str, how: str) -> CheckpointError:
    return CheckpointError(
        "UNSUPPORTED_MODEL_VERSION",
        f"This is a GPT-SoVITS {version} model ({how}); supported: {', '.join(SUPPORTED_VERSIONS)}",
        found=version, supported=list(SUPPORTED_VERSIONS),
    )  # fmt: skip


def read_gpt(source: str | Path | bytes) -> GptCheckpoint:
    with _open(source) as file:
        data = _torch_load(file, "gpt")
    config = _plain(data["config"])
    model = config.get("model") if isinstance(config, dict) else None
    needed = ("hidden_dim", "embedding_dim", "head", "n_layer", "vocab_size", "phoneme_vocab_size", "EOS")
    if not isinstance(model, dict) or any(key not in model for key in needed):
        raise CheckpointError("MODEL_INVALID", "The GPT file's config is not that of a GPT-SoVITS GPT model")
    if model["phoneme_vocab_size"] != _V2_SYMBOLS:
        version = "v1" if model["phoneme_vocab_size"] == _V1_SYMBOLS else f"{model['phoneme_vocab_size']} symbols"
        raise _unsupported(version, "the GPT file's phoneme vocabulary")
    return GptCheckpoint(config=config, weights=data["weight"])


def check_state_dict(path: str | Path, what: str) -> None:
    """A file that must hold only tensors (the speaker-verification weights) does."""
    with open(path, "rb") as file:
        import torch

        try:
            data = torch.load(file, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile) as exc:
            raise CheckpointError("MODEL_INVALID", f"The {what} file is not a plain state dict", file=what) from exc
    if not isinstance(data, dict) or not data:
        raise CheckpointError("MODEL_INVALID", f"The {what} file is not a plain state dict", file=what)


def sniff(data: bytes, what: str) -> None:
    """What the first bytes tell, before anything is stored: a zip archive (GPT, v1/v2 SoVITS),
    or for SoVITS a version mark; v1, v3 and v4 marks are refused at once."""
    head = data[:2]
    if what == "sovits" and head in _HEAD_VERSIONS:
        if _HEAD_VERSIONS[head] not in SUPPORTED_VERSIONS:
            raise _unsupported(_HEAD_VERSIONS[head], "the file's version mark")
        return
    if head != _ZIP_MAGIC:
        raise CheckpointError(
            "MODEL_INVALID", f"The {what} file is not a PyTorch checkpoint (header {head!r})", file=what,
            header=head.hex(),
        )  # fmt: skip
