"""Make gsv-tts-lite importable and quiet: call ``prepare()`` before importing ``gsv_tts``.

- gsv-tts-lite logs every step at INFO through the root logger, and shows tqdm bars:
  its records below WARNING are dropped, and tqdm is disabled.
- It imports torchaudio (without declaring it) and uses only its
pure-Python parts: ``transforms.Resample``, ``transforms.Spectrogram`` and
``compliance.kaldi.fbank``. PyPI's newest torchaudio (2.11) ships an extension
built against CUDA libraries that fails to load beside torch 2.13 (the CPU
build here, and CUDA builds it was not compiled for). Where the plain import
fails, a stand-in for ``torchaudio._extension`` that reports "no extension"
lets the pure-Python modules import; nothing used here calls into C.
"""

from __future__ import annotations

import logging
import os
import sys
import types

logger = logging.getLogger(__name__)


def _forget_partial_import() -> None:
    for name in [name for name in sys.modules if name == "torchaudio" or name.startswith("torchaudio.")]:
        del sys.modules[name]


def _no_align(*_args, **_kwargs):
    raise RuntimeError("torchaudio's alignment extension is not available")


def _quiet(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or f"{os.sep}gsv_tts{os.sep}" not in record.pathname


def prepare() -> None:
    os.environ.setdefault("TQDM_DISABLE", "1")
    root = logging.getLogger()
    if _quiet not in root.filters:
        root.addFilter(_quiet)
    ensure_torchaudio()


def ensure_torchaudio():
    try:
        import torchaudio

        return torchaudio
    except (ImportError, OSError) as exc:
        logger.info("torchaudio's extension does not load (%s); using its pure-Python parts only", exc)
        _forget_partial_import()
    stand_in = types.ModuleType("torchaudio._extension")
    stand_in._IS_TORCHAUDIO_EXT_AVAILABLE = False
    stand_in._IS_ALIGN_AVAILABLE = False
    stand_in.fail_if_no_align = lambda function: _no_align
    stand_in._check_cuda_version = lambda: None
    sys.modules["torchaudio._extension"] = stand_in
    import torchaudio

    return torchaudio
