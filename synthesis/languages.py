"""Language codes the service speaks, and ``auto`` detection by script."""

from __future__ import annotations

import re

LANGUAGES = {
    "en": "English",
    "zh": "Chinese (Mandarin)",
    "yue": "Cantonese",
    "ja": "Japanese",
    "ko": "Korean",
}
AUTO = "auto"

_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def detect(text: str) -> str:
    """Guess the language from the script. Cantonese and Mandarin share Han
    characters and cannot be told apart this way: Han text is taken as ``zh``."""
    if _HANGUL.search(text):
        return "ko"
    if _KANA.search(text):
        return "ja"
    if _HAN.search(text):
        return "zh"
    return "en"


def resolve(language: str, text: str) -> str:
    return detect(text) if language == AUTO else language
