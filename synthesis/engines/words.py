"""Word timings an engine left out, estimated from the ones around them.

An engine times most words from its own alignment; a few can slip through (the
GPT-SoVITS library stops timing a segment when its alignment runs short). Each
word of the text still gets a timing: untimed words share the time between the
timed words around them, in proportion to their length.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from synthesis.engines.base import WordTiming

# A kana or CJK character is a word of its own; otherwise a run of letters and digits
# (with inner apostrophes: "It's").
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_]+(?:['’][^\W_]+)*")


def tokens(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """The spans of the words in ``text[start:end]``."""
    return [match.span() for match in _TOKEN.finditer(text, start, len(text) if end is None else end)]


def spread(start: float, end: float, spans: Sequence[tuple[int, int]]) -> list[WordTiming]:
    """Timings for words said one after another between ``start`` and ``end``, each taking a
    share of the time in proportion to its length."""
    share = (end - start) / max(1, sum(b - a for a, b in spans))
    timings = []
    for a, b in spans:
        timings.append(WordTiming(start, start + share * (b - a), a, b))
        start = timings[-1].end
    return timings


def fill_gaps(
    text: str, words: Sequence[WordTiming], *, text_start: int, text_end: int, time_start: float, time_end: float
) -> tuple[WordTiming, ...]:
    """``words`` (timings inside ``text[text_start:text_end]``, in order) with a timing added
    for every token of that stretch that none of them covers."""
    covered = set()
    for word in words:
        covered.update(range(word.text_start, word.text_end))
    untimed = [span for span in tokens(text, text_start, text_end) if not covered.intersection(range(*span))]
    if not untimed:
        return tuple(words)
    merged: list[WordTiming] = []
    pending = iter(untimed)
    token = next(pending, None)
    for word in [*sorted(words, key=lambda w: w.text_start), None]:
        run = []  # the untimed tokens before this timed word (or before the end)
        while token is not None and (word is None or token[0] < word.text_start):
            run.append(token)
            token = next(pending, None)
        if run:
            begin = merged[-1].end if merged else time_start
            merged.extend(spread(begin, max(begin, word.start if word is not None else time_end), run))
        if word is not None:
            merged.append(word)
    return tuple(merged)
