"""Japanese text as kana, for eSpeak NG, which has no kanji readings.

Given kanji, eSpeak's Japanese voice says "Chinese letter" for each (in English), and it reads
kana as written, not as spoken (the particle は as "ha"). OpenJTalk's text frontend
(``pyopenjtalk-plus``, whose dictionary ships in its wheel: nothing is downloaded) reads each
word in context (私 → ワタシ, は → ワ, 2024 → ニセンニジューヨ). eSpeak is given those readings
in katakana, one accent phrase a word (space-separated, so that its word events fall on
phrases), and every character of the reading remembers which characters of the original it
reads: word timings keep pointing into the text the client sent.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# The accent mark (U+2019) OpenJTalk leaves in some pronunciations ("デス" + mark): not spoken.
_MARKS = str.maketrans("", "", "\u2019")
_KATAKANA = re.compile(r"[\u30a0-\u30ff]+")


@dataclass(frozen=True)
class Reading:
    text: str  # what eSpeak is given
    sources: tuple[tuple[int, int], ...]  # per character of ``text``: the span of the original it reads

    def original_span(self, start: int, end: int) -> tuple[int, int] | None:
        """The span of the original text that ``text[start:end]`` reads (None: only spacing)."""
        spans = [span for span in self.sources[start:end] if span[1] > span[0]]
        if not spans:
            return None
        return min(a for a, _ in spans), max(b for _, b in spans)


def as_written(text: str) -> Reading:
    return Reading(text, tuple((i, i + 1) for i in range(len(text))))


def reading(text: str) -> Reading:
    """``text`` with every word as the katakana it is pronounced with. Text OpenJTalk cannot
    analyse is kept as written (eSpeak then reads what it can of it)."""
    import pyopenjtalk

    try:
        morphs = pyopenjtalk.g2p_mapping(text)
    except Exception:  # its alignment checks refuse some inputs: speak those as written
        logger.warning("no Japanese reading for a text of %d characters; read as written", len(text), exc_info=True)
        return as_written(text)
    out: list[str] = []
    sources: list[tuple[int, int]] = []

    def emit(chars: str, span: tuple[int, int]) -> None:
        out.append(chars)
        sources.extend([span] * len(chars))

    for morph in morphs:
        a, b = morph["char_span"]
        if morph["is_ignored"]:  # spaces, brackets
            if out and not out[-1].endswith(" "):
                emit(" ", (a, a))
            continue
        if morph["pos"] == "記号" and not morph["mora_count"]:  # punctuation: eSpeak pauses on it as written
            emit(text[a:b] or morph["surface"], (a, b))
            continue
        pron = morph["pron"].translate(_MARKS)
        if morph["pos"] == "助詞" and pron == "ヲ":  # the particle を is said "o"
            pron = "オ"
        if not _KATAKANA.fullmatch(pron):  # no reading (an unknown symbol): as written
            pron = text[a:b] or morph["surface"]
        if morph["chain_flag"] != 1 and out and not out[-1].endswith(" "):
            emit(" ", (a, a))  # a new accent phrase: a word of its own for eSpeak
        emit(pron, (a, b))
    return Reading("".join(out), tuple(sources))


def warm() -> None:
    """Load the dictionary and models now rather than in the first Japanese request."""
    reading("日本語")
