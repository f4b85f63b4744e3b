"""Subtitle cues from word timestamps, and their SRT and WebVTT renderings (no database)."""

from __future__ import annotations

import html
import itertools
import random
import re

import pytest
import srt
import webvtt

from synthesis.subtitles import Cue, cues, to_srt, to_vtt

SENTENCES = [
    "The old lighthouse keeper climbed the stairs every evening at dusk.",
    "He carried a lantern, a notebook, and a thermos of strong black coffee.",
    "From the top he could see the whole harbour and the fishing boats coming home.",
    "Some nights the fog rolled in so thick that he couldn't see his own hands!",
    "Did the sailors know how much they depended on him?",
    "Probably not, but he didn't mind.",
    "In 1990 a storm tore the roof off the café down by the pier.",
    "The keeper kept the light burning through the wind and the rain until morning came.",
    "When the sun rose, the whole village walked up the hill to thank him.",
    "He smiled, poured another coffee, and went to sleep.",
]
TEXT = " ".join(SENTENCES)
WORD = re.compile(r"[\w'’]+")


def timed_words(text, *, word=0.3, gap=0.05, sentence_gap=0.4, start=0.2, pattern=WORD):
    """One timing per word of ``text``: ``word`` seconds each, ``gap`` between words and
    ``sentence_gap`` after a word followed by . ! ? or 。"""
    words, t = [], start
    for match in pattern.finditer(text):
        span = {"text_start": match.start(), "text_end": match.end()}
        words.append({"start": round(t, 3), "end": round(t + word, 3), **span})
        follows = text[match.end() : match.end() + 1]
        t += word + (sentence_gap if follows in {".", "!", "?", "。"} else gap)
    return words


def bare_words(text):
    """The words of a text, split on whitespace with punctuation stripped."""
    return [w for w in (token.strip(".,!?;:\"'()…。，！？") for token in text.split()) if w]


def assert_well_formed(result, *, duration, max_chars=42, max_seconds=7.0):
    assert result, "no cues"
    previous_end = 0.0
    for cue in result:
        assert isinstance(cue, Cue)
        assert 0.0 <= previous_end <= cue.start < cue.end <= duration, (cue, previous_end, duration)
        assert cue.end - cue.start <= max_seconds + 1e-9, cue
        assert cue.text == " ".join(cue.text.split()), cue  # whitespace collapsed
        previous_end = cue.end


# --- cues --------------------------------------------------------------------------------------


def test_ten_sentences_make_readable_cues_that_render_and_parse():
    words = timed_words(TEXT)
    duration = words[-1]["end"] + 0.5
    result = cues(TEXT, words, duration=duration)

    assert_well_formed(result, duration=duration)
    assert all(len(cue.text) <= 42 for cue in result), [c.text for c in result if len(c.text) > 42]
    # Every word, once, in order; and nothing else.
    assert bare_words(" ".join(cue.text for cue in result)) == bare_words(TEXT)
    # No cue runs over a sentence end: sentence punctuation only at a cue's end...
    for cue in result:
        assert not re.search(r"[.!?]\S*\s", cue.text), cue
    # ...and each of the 10 sentences ends a cue, several sentences being longer than one cue.
    assert sum(cue.text[-1] in ".!?" for cue in result) == len(SENTENCES)
    assert len(result) > len(SENTENCES)
    # Cues start on a word and end on a word (no clamping was needed here).
    starts = {w["start"] for w in words}
    ends = {w["end"] for w in words}
    assert all(cue.start in starts and cue.end in ends for cue in result)

    subtitles = list(srt.parse(to_srt(result)))
    assert [s.index for s in subtitles] == list(range(1, len(result) + 1))
    assert [s.content for s in subtitles] == [cue.text for cue in result]
    for subtitle, cue in zip(subtitles, result, strict=True):
        assert abs(subtitle.start.total_seconds() - cue.start) < 0.001
        assert abs(subtitle.end.total_seconds() - cue.end) < 0.001

    captions = webvtt.from_string(to_vtt(result)).captions
    assert [html.unescape(c.raw_text) for c in captions] == [cue.text for cue in result]
    for caption, cue in zip(captions, result, strict=True):
        assert abs(caption.start_time.in_milliseconds() / 1000 - cue.start) < 0.001
        assert abs(caption.end_time.in_milliseconds() / 1000 - cue.end) < 0.001


def test_a_long_sentence_without_punctuation_is_split_by_max_chars():
    text = " ".join(["word"] * 10 + ["another"] * 10 + ["and"] * 10)
    words = timed_words(text, gap=0.02)
    result = cues(text, words, duration=30.0, max_chars=30)
    assert_well_formed(result, duration=30.0)
    assert len(result) >= len(text) // 30 + 1
    assert all(len(cue.text) <= 30 for cue in result)
    assert " ".join(cue.text for cue in result) == text
    # Greedy: a cue takes as many words as fit, so adding the next word would overflow it.
    for cue, following in itertools.pairwise(result):
        assert len(cue.text) + 1 + len(following.text.split()[0]) > 30


def test_max_seconds_splits_slow_speech():
    text = " ".join(f"w{i}" for i in range(12))
    words = timed_words(text, word=0.9, gap=0.1)  # one word a second: 12 s of speech, short text
    result = cues(text, words, duration=13.0, max_seconds=5.0)
    assert_well_formed(result, duration=13.0, max_seconds=5.0)
    assert len(result) == 3
    assert [len(cue.text.split()) for cue in result] == [5, 5, 2]
    assert " ".join(cue.text for cue in result) == text


def test_a_long_pause_splits_and_a_short_one_does_not():
    text = "one two three four"
    spans = [m.span() for m in WORD.finditer(text)]
    times = [(0.0, 0.3), (0.35, 0.6), (1.5, 1.8), (2.5, 2.8)]  # 0.9 s then 0.7 s of silence
    words = [
        {"start": s, "end": e, "text_start": a, "text_end": b} for (s, e), (a, b) in zip(times, spans, strict=True)
    ]
    result = cues(text, words, duration=3.0)
    assert result == [Cue(0.0, 0.6, "one two"), Cue(1.5, 2.8, "three four")]


def test_a_word_ending_after_the_audio_is_clamped():
    text = "Short and sweet."
    words = timed_words(text)
    words[-1]["end"] = 5.0
    result = cues(text, words, duration=1.2)
    assert result == [Cue(0.2, 1.2, "Short and sweet.")]


def test_a_word_starting_after_the_audio_ends_joins_the_cue_before():
    text = "First sentence here. Then more."
    words = timed_words(text)
    last_end = words[-1]["end"]
    result = cues(text, words, duration=words[2]["end"] + 0.1)  # the second sentence starts after the end
    assert result == [Cue(0.2, words[2]["end"], "First sentence here. Then more.")]
    assert last_end > result[-1].end


def test_no_words_no_cues():
    assert cues("Hello there.", [], duration=2.0) == []
    assert cues("", [], duration=0.0) == []
    assert to_srt([]) == ""
    assert webvtt.from_string(to_vtt([])).captions == []


def test_chinese_sentences_one_word_per_character():
    text = "你好世界。今天天气很好。"
    words = timed_words(text, pattern=re.compile(r"[^\s。]"))
    assert len(words) == 10
    duration = words[-1]["end"] + 0.3
    result = cues(text, words, duration=duration)
    assert_well_formed(result, duration=duration)
    assert [cue.text for cue in result] == ["你好世界。", "今天天气很好。"]
    assert result[0].start == words[0]["start"]
    assert result[1].start == words[4]["start"]


def test_chinese_without_punctuation_counts_characters_for_max_chars():
    text = "我们今天下午去公园散步然后一起吃晚饭再回家看电影" * 2
    words = timed_words(text, pattern=re.compile(r"\S"), gap=0.02)
    result = cues(text, words, duration=60.0, max_chars=12)
    assert_well_formed(result, duration=60.0)
    assert [len(cue.text) for cue in result] == [12, 12, 12, 12]
    assert "".join(cue.text for cue in result) == text


def test_quotes_and_brackets_stay_with_their_words():
    text = 'She said "Stop." Then (quietly) she left… Everyone waited!'
    words = timed_words(text)
    result = cues(text, words, duration=10.0)
    assert [cue.text for cue in result] == ['She said "Stop."', "Then (quietly) she left…", "Everyone waited!"]


def test_abbreviations_decimals_and_lowercase_continuations_do_not_end_sentences():
    text = "Mr. Brown paid 3.5 euros, e.g. the price of a coffee."
    words = timed_words(text, pattern=re.compile(r"[A-Za-z0-9]+"))  # "3.5" and "e.g." come as two words
    assert [cue.text for cue in cues(text, words, duration=20.0, max_chars=80)] == [text]


def test_semicolons_and_cjk_marks_end_cues():
    text = "I came; I saw. 你好！再见？"
    words = timed_words(text, pattern=re.compile(r"[A-Za-z]+|[\u4e00-\u9fff]"), sentence_gap=0.05)
    assert [cue.text for cue in cues(text, words, duration=20.0)] == ["I came;", "I saw.", "你好！", "再见？"]


def test_a_word_longer_than_max_chars_is_its_own_cue():
    text = "a Donaudampfschifffahrtsgesellschaftskapitän b"
    words = timed_words(text)
    result = cues(text, words, duration=5.0, max_chars=20)
    assert [cue.text for cue in result] == ["a", "Donaudampfschifffahrtsgesellschaftskapitän", "b"]


def test_words_with_no_length_get_a_minimal_one():
    text = "Hi. Yo."
    words = [
        {"start": 1.0, "end": 1.0, "text_start": 0, "text_end": 2},
        {"start": 2.0, "end": 2.0, "text_start": 4, "text_end": 6},
    ]
    result = cues(text, words, duration=2.02)
    assert result == [Cue(1.0, 1.05, "Hi."), Cue(2.0, 2.02, "Yo.")]


def test_words_at_the_same_instant_merge_rather_than_overlap():
    text = "One. Two. Three."
    words = [{"start": 0.5, "end": 0.5, "text_start": m.start(), "text_end": m.end()} for m in WORD.finditer(text)]
    result = cues(text, words, duration=1.0)
    assert result == [Cue(0.45, 0.5, "One. Two."), Cue(0.5, 0.55, "Three.")]


def test_unordered_overlapping_and_out_of_range_words_still_make_valid_cues():
    words = timed_words(TEXT)
    # Jitter: swap the times of neighbours inside sentences, overlap others.
    for i in range(1, len(words) - 1, 7):
        words[i]["start"], words[i + 1]["start"] = words[i + 1]["start"], words[i]["start"]
    for i in range(3, len(words), 5):
        words[i]["end"] += 0.5
    words[0]["start"] = -0.5  # before the audio
    words[-1]["text_end"] = len(TEXT) + 40  # past the text
    words.append({"start": 1.0, "end": 1.1, "text_start": len(TEXT) + 5, "text_end": len(TEXT) + 9})  # no text
    words.reverse()
    duration = max(w["end"] for w in words) - 1.0
    result = cues(TEXT, words, duration=duration)

    assert_well_formed(result, duration=duration)
    assert result[0].start == 0.0
    assert result[-1].end == pytest.approx(duration)
    joined = " ".join(cue.text for cue in result)
    assert joined == TEXT  # every character of the text, once, in order


def test_bad_duration_is_refused():
    with pytest.raises(ValueError, match="duration"):
        cues("Hi.", [{"start": 0, "end": 1, "text_start": 0, "text_end": 2}], duration=float("nan"))
    with pytest.raises(ValueError, match="duration"):
        cues("Hi.", [], duration=-1.0)


# --- rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize("render", [to_srt, to_vtt])
def test_timestamps_round_trip_to_the_millisecond(render):
    given = [
        Cue(0.0, 0.0004, "zero"),
        Cue(1.2345, 2.9999, "rounded"),
        Cue(59.9996, 61.001, "a minute"),
        Cue(3599.9, 3723.456, "over an hour"),
    ]
    text = render(given)
    if render is to_srt:
        parsed = [(s.start.total_seconds(), s.end.total_seconds(), s.content) for s in srt.parse(text)]
    else:
        parsed = [
            (c.start_time.in_milliseconds() / 1000, c.end_time.in_milliseconds() / 1000, c.text)
            for c in webvtt.from_string(text).captions
        ]
    assert [p[2] for p in parsed] == [cue.text for cue in given]
    for (start, end, _), cue in zip(parsed, given, strict=True):
        assert abs(start - cue.start) <= 0.0005 + 1e-9
        assert abs(end - cue.end) <= 0.0005 + 1e-9
    assert "01:02:03" in text  # 3723.456 s


def test_srt_and_vtt_formats():
    given = [Cue(1.5, 2.25, "Hello, world."), Cue(2.25, 3.0, "Again.")]
    assert to_srt(given) == (
        "1\n00:00:01,500 --> 00:00:02,250\nHello, world.\n\n2\n00:00:02,250 --> 00:00:03,000\nAgain.\n\n"
    )
    vtt = to_vtt(given)
    assert vtt.startswith("WEBVTT\n\n00:00:01.500 --> 00:00:02.250\nHello, world.\n")
    assert "\n\n00:00:02.250 --> 00:00:03.000\nAgain.\n" in vtt


def test_vtt_escapes_markup_in_the_text():
    given = [Cue(0.0, 1.0, "a <b> & c --> d"), Cue(1.0, 2.0, "plain")]
    vtt = to_vtt(given)
    assert "<b>" not in vtt
    assert "--> d" not in vtt
    captions = webvtt.from_string(vtt).captions
    assert [html.unescape(c.raw_text) for c in captions] == ["a <b> & c --> d", "plain"]
    assert [s.content for s in srt.parse(to_srt(given))] == ["a <b> & c --> d", "plain"]


def test_negative_cue_times_are_refused():
    with pytest.raises(ValueError, match="cue time"):
        to_srt([Cue(-1.0, 1.0, "x")])
    with pytest.raises(ValueError, match="cue time"):
        to_vtt([Cue(0.0, float("inf"), "x")])


def test_random_timings_always_give_valid_cues():
    """Seeded noise: unsorted, overlapping, zero-length, out-of-range words never break the invariants."""
    rng = random.Random(20240611)
    pieces = ["ab", "cd", "éf", " ", " ", ". ", ", ", "! ", "? ", "你", "好", "。", "「", "」", '"', "(", ")", "\n"]
    for _ in range(500):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        words = []
        for match in re.finditer(r"[a-zé]+|[你好]", text):
            start = rng.uniform(-1.0, 10.0)
            end = start + rng.choice([0.0, rng.uniform(0.0, 2.0)])
            words.append({"start": start, "end": end, "text_start": match.start(), "text_end": match.end()})
        if rng.random() < 0.1 and words:
            words[0]["text_start"], words[0]["text_end"] = rng.randint(-5, 60), rng.randint(-5, 60)
        duration = rng.choice([0.0, 0.01, 0.05, 1.0, 5.0, 12.0])
        max_chars, max_seconds = rng.choice([1, 5, 42]), rng.choice([0.5, 7.0])
        result = cues(text, words, duration=duration, max_chars=max_chars, max_seconds=max_seconds)
        previous_end, position, collapsed = 0.0, 0, " ".join(text.split())
        for cue in result:
            assert previous_end <= cue.start < cue.end <= duration, (text, words, duration, result)
            assert cue.text, (text, words, result)
            position = collapsed.index(cue.text, position) + len(cue.text)  # in the text's order
            previous_end = cue.end
        assert len(list(srt.parse(to_srt(result)))) == len(result)
        assert len(webvtt.from_string(to_vtt(result)).captions) == len(result)
