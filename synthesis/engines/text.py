"""Sentence splitting shared by engines: progress and joins happen per sentence.

Sentences are found as character spans of the text, so that what an engine says
of a sentence (when each word is spoken) maps back onto the text it was given.
"""

from __future__ import annotations

import re

# Sentence-final punctuation of the supported languages, ASCII and full-width.
_SENTENCE_END = re.compile(r"(?<=[.!?;。！？；…])\s*|\n+")
# Very long sentences are cut at clause punctuation so progress keeps moving.
_CLAUSE_END = re.compile(r"(?<=[,，、:：])\s*")
_MAX_SENTENCE_CHARS = 300
_SPACE = re.compile(r"\s+")


def _pieces(text: str, pattern: re.Pattern, start: int, end: int):
    """The spans between ``pattern``'s matches in ``text[start:end]``, whitespace trimmed, empty ones dropped."""
    cursor = start
    for match in pattern.finditer(text, start, end):
        if match.end() == match.start() == cursor:
            continue
        yield from _trimmed(text, cursor, match.start())
        cursor = match.end()
    yield from _trimmed(text, cursor, end)


def _trimmed(text: str, start: int, end: int):
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        yield start, end


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``, in order. A sentence longer than
    _MAX_SENTENCE_CHARS is cut at its clause punctuation into pieces as long as fit, and a
    clause still too long at word boundaries (anywhere, in a script without spaces): progress
    then moves through a long text without full stops, and no piece is too long to speak."""
    spans: list[tuple[int, int]] = []
    for start, end in _pieces(text, _SENTENCE_END, 0, len(text)):
        if end - start <= _MAX_SENTENCE_CHARS:
            spans.append((start, end))
            continue
        for clause_start, clause_end in _joined(_pieces(text, _CLAUSE_END, start, end)):
            spans.extend(_by_words(text, clause_start, clause_end))
    return spans


def _joined(spans) -> list[tuple[int, int]]:
    """Consecutive spans joined while they fit in _MAX_SENTENCE_CHARS."""
    joined: list[tuple[int, int]] = []
    for start, end in spans:
        if joined and end - joined[-1][0] <= _MAX_SENTENCE_CHARS:
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return joined


def _by_words(text: str, start: int, end: int):
    """``text[start:end]`` in pieces of at most _MAX_SENTENCE_CHARS, cut after a word."""
    while end - start > _MAX_SENTENCE_CHARS:
        limit = start + _MAX_SENTENCE_CHARS
        cut = max((match.end() for match in _SPACE.finditer(text, start + 1, limit)), default=limit)
        yield from _trimmed(text, start, cut)
        start = cut
    yield from _trimmed(text, start, end)


def split_sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]
