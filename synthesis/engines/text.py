"""Sentence splitting shared by engines: progress and joins happen per sentence."""

from __future__ import annotations

import re

# Sentence-final punctuation of the supported languages, ASCII and full-width.
_SENTENCE_END = re.compile(r"(?<=[.!?;。！？；…])\s*|\n+")
# Very long sentences are cut at clause punctuation so progress keeps moving.
_CLAUSE_END = re.compile(r"(?<=[,，、:：])\s*")
_MAX_SENTENCE_CHARS = 300


def split_sentences(text: str) -> list[str]:
    sentences: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        if not sentence:
            continue
        if len(sentence) <= _MAX_SENTENCE_CHARS:
            sentences.append(sentence)
            continue
        sentences.extend(part.strip() for part in _CLAUSE_END.split(sentence) if part.strip())
    return sentences
