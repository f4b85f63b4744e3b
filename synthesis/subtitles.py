"""Subtitles from a task's text and its word timestamps: cues, rendered as SRT and WebVTT.

Django-free. ``words`` are the engine's word timings as dicts, sorted by start::

    {"start": 0.12, "end": 0.41, "text_start": 0, "text_end": 5}

where ``text[text_start:text_end]`` is the word; punctuation sits between words in the text.
Times are handled in whole milliseconds (what both formats write), so the cues render exactly.
"""

from __future__ import annotations

import html
import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise

import srt
import webvtt
from webvtt.models import Timestamp

__all__ = ["Cue", "cues", "to_srt", "to_vtt"]

PAUSE_MS = 800  # a silence longer than this between two words starts a new cue
MIN_CUE_MS = 50  # the length given to a cue that clamping left with none
SENTENCE_ENDS = frozenset(".!?;…。！？；")
# Abbreviations whose "." does not end a sentence (compared lowercased, without the dot).
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "vs", "e.g", "i.e"})

_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    text: str


@dataclass(frozen=True)
class _Word:
    start: int  # milliseconds
    end: int
    text_start: int
    text_end: int


@dataclass
class _Group:
    start: int  # milliseconds, first word's start
    end: int  # last word's end
    text_start: int  # the cue's slice of the text, punctuation included
    text_end: int


def cues(
    text: str, words: Sequence[Mapping], *, duration: float, max_chars: int = 42, max_seconds: float = 7.0
) -> list[Cue]:
    """The subtitle cues of ``text`` spoken with the timings ``words`` in audio ``duration`` seconds long.

    A cue is a run of consecutive words: its text runs from its first word to its last one, with
    the punctuation right after the last word (and an opening quote or bracket right before the
    first), whitespace collapsed. A new cue starts after a sentence end, before a word that would
    make the cue longer than ``max_chars`` characters or ``max_seconds``, and at a pause longer
    than 0.8 s. Cues are ordered, never overlap, and lie in [0, duration]; an audio with no
    length has no cues.
    """
    duration = _seconds(duration, "duration")
    if max_chars < 1 or not max_seconds > 0:
        raise ValueError("max_chars and max_seconds must be positive")
    limit_ms = math.floor(duration * 1000 + 1e-6)  # never after the audio's end
    timed = _normalized(text, words)
    if not timed or limit_ms <= 0:
        return []
    layout = _Layout(text, timed)
    groups = _grouped(layout, timed, max_chars=max_chars, max_ms=max_seconds * 1000)
    return _timed_cues(text, groups, limit_ms)


def to_srt(cues: Sequence[Cue]) -> str:
    """The cues as a SubRip file, numbered from 1 in the given order (one block per cue)."""
    subtitles = [
        srt.Subtitle(
            index=index,
            start=timedelta(milliseconds=_milliseconds(cue.start)),
            end=timedelta(milliseconds=_milliseconds(cue.end)),
            content=cue.text,
        )
        for index, cue in enumerate(cues, start=1)
    ]
    return srt.compose(subtitles, reindex=False)


def to_vtt(cues: Sequence[Cue]) -> str:
    """The cues as a WebVTT file, in the given order (one cue block per cue).

    ``&``, ``<`` and ``>`` in the text are written as character references, as WebVTT cue text
    requires (a bare ``<`` starts a tag and ``-->`` would end the cue)."""
    document = webvtt.WebVTT()
    for cue in cues:
        document.captions.append(
            webvtt.Caption(
                start=_vtt_timestamp(cue.start), end=_vtt_timestamp(cue.end), text=html.escape(cue.text, quote=False)
            )
        )
    return document.content


def _seconds(value: float, what: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{what} must be a finite number of seconds from 0, not {value!r}")
    return seconds


def _milliseconds(seconds: float) -> int:
    return round(_seconds(seconds, "a cue time") * 1000)


def _vtt_timestamp(seconds: float) -> str:
    return str(Timestamp.from_seconds(_milliseconds(seconds) / 1000))


def _normalized(text: str, words: Sequence[Mapping]) -> list[_Word]:
    """The words that have text, spans clamped to the text, sorted by start, each ending by the
    next one's start (overlaps clipped)."""
    size = len(text)
    found = []
    for word in words:
        start, end = float(word["start"]), float(word["end"])
        if not math.isfinite(start):
            continue
        if not math.isfinite(end):
            end = start
        text_start = min(max(int(word["text_start"]), 0), size)
        text_end = min(max(int(word["text_end"]), text_start), size)
        if not text[text_start:text_end].strip():
            continue
        start_ms = max(round(start * 1000), 0)
        found.append(_Word(start_ms, max(round(end * 1000), start_ms), text_start, text_end))
    found.sort(key=lambda w: (w.start, w.text_start))
    return [
        _Word(w.start, min(w.end, found[i + 1].start) if i + 1 < len(found) else w.end, w.text_start, w.text_end)
        for i, w in enumerate(found)
    ]


def _is_punctuation(token: str) -> bool:
    return not any(ch.isalnum() for ch in token)


class _Layout:
    """Where each word's punctuation goes: a gap between two words is split so that the
    punctuation right after the earlier word (and any spaced-off punctuation such as French
    "mot !") is its, and punctuation touching the later word after a space (an opening quote
    or bracket) is the later word's."""

    def __init__(self, text: str, words: Sequence[_Word]):
        self.text = text
        self.starts = sorted(w.text_start for w in words)
        self.ends = sorted(w.text_end for w in words)

    def _split(self, gap_start: int, gap_end: int, *, has_prev: bool, has_next: bool) -> tuple[int, int]:
        """(end of the earlier word's part, start of the later word's part) of a gap."""
        tokens = [(m.start() + gap_start, m.end() + gap_start) for m in _TOKEN.finditer(self.text[gap_start:gap_end])]
        prev_end, next_start = gap_start, gap_end
        if tokens and has_next:
            first, last = tokens[-1]
            if last == gap_end and (first > gap_start or not has_prev) and _is_punctuation(self.text[first:last]):
                next_start = first
                tokens.pop()
        if has_prev:
            for first, last in tokens:
                if not _is_punctuation(self.text[first:last]):
                    break
                prev_end = last
        return prev_end, next_start

    def trailing(self, position: int) -> int:
        """Where a cue whose last word ends at ``position`` ends, its punctuation included."""
        i = bisect_left(self.starts, position)
        has_next = i < len(self.starts)
        gap_end = self.starts[i] if has_next else len(self.text)
        return self._split(position, gap_end, has_prev=True, has_next=has_next)[0]

    def leading(self, position: int) -> int:
        """Where a cue whose first word starts at ``position`` starts, an opening quote included."""
        i = bisect_right(self.ends, position)
        has_prev = i > 0
        gap_start = self.ends[i - 1] if has_prev else 0
        return self._split(gap_start, position, has_prev=has_prev, has_next=True)[1]

    def next_word_start(self, position: int) -> int | None:
        i = bisect_left(self.starts, position)
        return self.starts[i] if i < len(self.starts) else None

    def ends_sentence(self, position: int) -> bool:
        """Whether the punctuation after a word ending at ``position`` ends a sentence. A "." or
        "…" does not when the next word starts in lowercase ("e.g. the", "wait… then"), follows
        an abbreviation ("Mr.") or sits inside a token ("3.5", "example.com")."""
        tail = self.text[position : self.trailing(position)]
        enders = {ch for ch in tail if ch in SENTENCE_ENDS}
        if not enders:
            return False
        if enders - {".", "…"}:
            return True
        before = self.text[max(position - 8, 0) : position].split()
        if "." in enders and before and before[-1].lower().rstrip(".") in ABBREVIATIONS:
            return False
        following = self.next_word_start(position)
        if following is None:
            return True
        between = self.text[position:following]
        if "." in enders and not any(ch.isspace() for ch in between) and set(between) <= set(".,:'’-"):
            return False
        return not self.text[following].islower()


def _collapsed(text: str) -> str:
    return " ".join(text.split())


def _grouped(layout: _Layout, words: Sequence[_Word], *, max_chars: int, max_ms: float) -> list[_Group]:
    """Consecutive words into cues; the cues' text slices follow one another without overlap."""
    groups: list[_Group] = []
    previous_end = 0  # where the previous cue's text ends

    def span(low: int, high: int) -> tuple[int, int]:
        start = max(layout.leading(low), previous_end)
        return start, max(layout.trailing(high), start)

    low, high = words[0].text_start, words[0].text_end
    first = words[0]
    for prev, word in pairwise(words):
        new_low, new_high = min(low, word.text_start), max(high, word.text_end)
        start, end = span(new_low, new_high)
        if (
            layout.ends_sentence(prev.text_end)
            or word.start - prev.end > PAUSE_MS
            or word.end - first.start > max_ms
            or len(_collapsed(layout.text[start:end])) > max_chars
        ):
            start, end = span(low, high)
            groups.append(_Group(first.start, prev.end, start, end))
            previous_end = end
            first, low, high = word, word.text_start, word.text_end
        else:
            low, high = new_low, new_high
    start, end = span(low, high)
    groups.append(_Group(first.start, words[-1].end, start, end))
    return groups


def _timed_cues(text: str, groups: Sequence[_Group], limit_ms: int) -> list[Cue]:
    """Clamp the groups' times into [0, limit] without overlap; a cue left with no length or no
    text of its own joins the cue before it (the first one the cue after it)."""
    kept: list[_Group] = []
    carried: int | None = None  # text start of a first cue that could not be kept
    for i, group in enumerate(groups):
        start = min(group.start, limit_ms)
        bound = min(groups[i + 1].start, limit_ms) if i + 1 < len(groups) else limit_ms
        end = min(group.end, bound)
        if end <= start:
            end = min(start + MIN_CUE_MS, bound)
        if end <= start and not kept and bound > 0:
            start, end = max(bound - MIN_CUE_MS, 0), bound  # the first cue: move its start back
        has_text = bool(text[group.text_start : group.text_end].strip())
        if end <= start or not has_text:
            if kept:
                kept[-1].text_end = max(kept[-1].text_end, group.text_end)
            elif carried is None:
                carried = group.text_start
            continue
        text_start = group.text_start if carried is None else carried
        carried = None
        kept.append(_Group(start, end, text_start, group.text_end))
    return [Cue(g.start / 1000, g.end / 1000, _collapsed(text[g.text_start : g.text_end])) for g in kept]
