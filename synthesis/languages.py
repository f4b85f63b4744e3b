"""Language codes the service speaks, ``auto`` detection by script, and which scripts each
language can speak."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

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


# The scripts a language's text may be written in, as the engines read them. Latin is in every
# one (Chinese, Japanese and Korean text carries Latin words, read in English or as Japanese
# readings), and so is Greek (read as Greek: "π" is "pi"). A letter of any other script is read
# as "Chinese letter", "Japanese letter" or spelled out ("Cyrillic P"): refused, not spoken.
SCRIPTS = {
    "en": frozenset({"Latin", "Greek"}),
    "zh": frozenset({"Han", "Latin", "Greek"}),
    "yue": frozenset({"Han", "Latin", "Greek"}),
    "ja": frozenset({"Han", "Kana", "Latin", "Greek"}),
    "ko": frozenset({"Hangul", "Latin", "Greek"}),
}
# A letter's script from the first word of its Unicode name ("FULLWIDTH"/"HALFWIDTH" set aside);
# letters named otherwise (modifier letters, mathematical alphanumerics) are not judged.
_NAMED_SCRIPTS = {
    "LATIN": "Latin", "GREEK": "Greek", "CJK": "Han", "IDEOGRAPHIC": "Han", "HIRAGANA": "Kana",
    "KATAKANA": "Kana", "KATAKANA-HIRAGANA": "Kana", "HANGUL": "Hangul", "CYRILLIC": "Cyrillic",
    "ARABIC": "Arabic", "HEBREW": "Hebrew", "THAI": "Thai", "DEVANAGARI": "Devanagari", "ARMENIAN": "Armenian",
    "GEORGIAN": "Georgian", "BENGALI": "Bengali", "TAMIL": "Tamil", "ETHIOPIC": "Ethiopic", "KHMER": "Khmer",
}  # fmt: skip
# The language a script suggests (Han alone: Mandarin, as ``detect`` takes it).
_SCRIPT_LANGUAGE = {"Latin": "en", "Han": "zh", "Kana": "ja", "Hangul": "ko"}


def script_of(char: str) -> str | None:
    """The script of a letter, or None (not a letter, or a letter this does not judge)."""
    if not unicodedata.category(char).startswith("L"):
        return None
    words = unicodedata.name(char, "").split()
    if words and words[0] in ("FULLWIDTH", "HALFWIDTH"):
        words = words[1:]
    return _NAMED_SCRIPTS.get(words[0]) if words else None


@dataclass(frozen=True)
class ScriptMismatch:
    script: str  # the first script found that the language cannot speak
    sample: str  # the text from its first such letter on (a few characters)
    detected_language: str | None  # the service's language for that script, if it has one


def script_mismatch(language: str, text: str) -> ScriptMismatch | None:
    """Letters in ``text`` of a script that ``language`` cannot speak, or None."""
    allowed = SCRIPTS.get(language)
    if allowed is None:
        return None
    found: dict[str, list[int]] = {}  # script -> where its letters are
    for index, char in enumerate(text):
        script = script_of(char)
        if script is not None and script not in allowed:
            found.setdefault(script, []).append(index)
    if not found:
        return None
    script, where = max(found.items(), key=lambda item: len(item[1]))
    detected = detect(text) if script in _SCRIPT_LANGUAGE else None
    if detected is not None and (detected == language or script not in SCRIPTS[detected]):
        detected = _SCRIPT_LANGUAGE[script]
    return ScriptMismatch(script=script, sample=text[where[0] : where[0] + 12], detected_language=detected)
