"""Contract tests on the real embedded engine: eSpeak NG, WORLD and Resemblyzer, no mocks."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import soxr

from synthesis import speaker_embedding
from synthesis.engines import engine_info, get_engine
from synthesis.engines.base import ReferenceUnusable, SynthesisRequest, UnsupportedLanguage
from synthesis.engines.embedded import world
from synthesis.engines.text import split_sentences
from tests.conftest import LONG_REFERENCE, REFERENCE, speech_seconds

FEMALE_REFERENCE = LONG_REFERENCE.parent / "19-198-0000.flac"  # too short for upload, fine for pitch


@pytest.fixture(scope="module")
def engine():
    return get_engine("embedded")


@pytest.fixture(scope="module")
def reference():
    samples, rate = sf.read(LONG_REFERENCE, dtype="float32")
    return samples, rate


@pytest.fixture(scope="module")
def profile(engine, reference):
    samples, rate = reference
    return engine.extract_profile(audio=samples, sample_rate=rate, text="", language="en")


def median_f0(samples: np.ndarray, rate: int) -> float:
    x = soxr.resample(samples, rate, 16000)
    return world.pitch_stats(world.f0_contour(x, 16000)).median_hz


def test_the_engine_is_registered_with_its_languages(engine):
    assert engine.name == "embedded"
    assert {"en", "zh", "yue", "ja", "ko"} <= engine.languages
    assert engine_info("embedded").languages == engine.languages


def test_the_profile_holds_what_the_voice_needs(profile):
    data = profile.data
    assert profile.engine == "embedded"
    for key in ("pitch_log_mean", "pitch_log_std", "pitch_median_hz", "warp", "rate", "loudness_db", "base_variant"):
        assert key in data
    assert len(data["embedding"]) == 256
    assert 0.8 <= data["rate"] <= 1.25
    assert 0.8 < data["warp"] < 1.3


def test_a_batch_in_two_languages_reports_progress_per_request(engine, profile):
    requests = [
        SynthesisRequest(text="Good morning. The weather is fine today.", language="en", profile=profile),
        SynthesisRequest(text="你好。今天天气很好。我们去公园吧。", language="zh", profile=profile),
        SynthesisRequest(
            text="One more sentence, spoken slowly.", language="en", profile=profile, params={"speed": 0.8}
        ),
    ]
    progress: dict[int, list[float]] = {}
    results = engine.synthesize(requests, on_progress=lambda i, f: progress.setdefault(i, []).append(f))
    assert len(results) == 3
    for result in results:
        assert result.sample_rate == engine.sample_rate
        assert speech_seconds(result.audio, result.sample_rate) >= 0.8
        assert np.abs(result.audio).max() <= 1.0
    assert progress[0] == [0.5, 1.0]  # two sentences
    assert progress[1] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert progress[2] == [1.0]


def test_speed_changes_the_duration(engine, profile):
    text = "The quick brown fox jumps over the lazy dog."
    fast = engine.synthesize([SynthesisRequest(text=text, language="en", profile=profile, params={"speed": 1.5})])
    slow = engine.synthesize([SynthesisRequest(text=text, language="en", profile=profile, params={"speed": 0.7})])
    assert slow[0].duration > fast[0].duration * 1.4


@pytest.mark.parametrize("language", ["ja", "ko", "yue"])
def test_every_language_speaks(engine, profile, language):
    text = {"ja": "こんにちは。元気ですか。", "ko": "안녕하세요. 반갑습니다.", "yue": "你好。今日天氣好好。"}[language]
    [result] = engine.synthesize([SynthesisRequest(text=text, language=language, profile=profile)])
    assert speech_seconds(result.audio, result.sample_rate) >= 0.5


def test_output_sits_at_the_reference_voices_pitch(engine):
    """Median F0 of English output within 15 % of the reference's, for a low and a high voice."""
    for path in (LONG_REFERENCE, FEMALE_REFERENCE):
        samples, rate = sf.read(path, dtype="float32")
        voice = engine.extract_profile(audio=samples, sample_rate=rate, text="", language="en")
        [result] = engine.synthesize([SynthesisRequest(
            text="It was a bright cold day in April, and the clocks were striking thirteen.",
            language="en", profile=voice,
        )])  # fmt: skip
        reference_f0, output_f0 = median_f0(samples, rate), median_f0(result.audio, result.sample_rate)
        assert abs(output_f0 - reference_f0) / reference_f0 < 0.15, (path.name, reference_f0, output_f0)


def test_adaptation_moves_the_voice_toward_the_reference(engine, profile, reference):
    samples, rate = reference
    text = "Please call Stella and ask her to bring these things with her from the store."
    [adapted] = engine.synthesize([SynthesisRequest(text=text, language="en", profile=profile)])
    from synthesis.engines.embedded import espeak

    plain = espeak.get().synthesize(text, voice="en-us").astype(np.float32) / 32768
    ref = speaker_embedding.embed(samples, rate)
    adapted_sim = speaker_embedding.cosine(ref, speaker_embedding.embed(adapted.audio, adapted.sample_rate))
    plain_sim = speaker_embedding.cosine(ref, speaker_embedding.embed(plain, espeak.get().sample_rate))
    assert adapted_sim > plain_sim


def test_sentence_joins_do_not_click(engine, profile):
    """Each sentence fades in from and out to zero, so the joins have no step."""
    chunks = list(engine.stream(SynthesisRequest(text="First part. Second part. Third part.", language="en",
                                                 profile=profile)))  # fmt: skip
    pause = int(0.18 * engine.sample_rate)
    for i, chunk in enumerate(chunks):
        speech = chunk.audio if i == len(chunks) - 1 else chunk.audio[:-pause]
        assert np.all(chunk.audio[len(speech) :] == 0)
        assert abs(speech[0]) < 1e-3
        assert abs(speech[-1]) < 1e-3
        assert np.abs(speech).max() > 0.05


def test_stream_yields_a_chunk_per_sentence(engine, profile):
    chunks = list(engine.stream(SynthesisRequest(text="One. Two. Three.", language="en", profile=profile)))
    assert [c.progress for c in chunks] == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_an_unsupported_language_is_refused(engine, profile):
    with pytest.raises(UnsupportedLanguage):
        engine.synthesize([SynthesisRequest(text="Bonjour.", language="fr", profile=profile)])


def test_a_silent_reference_gives_no_profile(engine):
    silence = np.zeros(16000 * 5, dtype=np.float32)
    with pytest.raises(ReferenceUnusable):
        engine.extract_profile(audio=silence, sample_rate=16000, text="", language="en")


def test_espeak_is_safe_across_threads():
    """eSpeak's global state is locked: parallel calls give the sequential result (eSpeak's
    noise sources and state make samples differ a little from run to run, never grossly)."""
    from concurrent.futures import ThreadPoolExecutor

    from synthesis.engines.embedded import espeak

    es = espeak.get()
    jobs = [(f"Thread number {i} says hello.", voice) for i in range(4) for voice in ("en-us+f3", "cmn", "en-us")]
    sequential = [es.synthesize(text, voice=voice) for text, voice in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda job: es.synthesize(job[0], voice=job[1]), jobs))
    for a, b in zip(sequential, parallel, strict=True):
        assert abs(len(a) - len(b)) <= 0.02 * len(a)  # interleaved calls would swap whole buffers
        rms_a, rms_b = (np.sqrt(np.mean(x.astype(float) ** 2)) for x in (a, b))
        assert abs(rms_a - rms_b) / rms_a < 0.1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three?", ["One.", "Two!", "Three?"]),
        ("你好。今天好！真的吗？", ["你好。", "今天好！", "真的吗？"]),
        ("Line one\n\nline two", ["Line one", "line two"]),
        ("   ", []),
    ],
)
def test_sentences_split_on_each_languages_punctuation(text, expected):
    assert split_sentences(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        ", ".join(["a clause of a long sentence with no full stop"] * 110),  # 5,000 characters, commas only
        " ".join(["word"] * 1000),  # no punctuation at all: cut between words
        "字" * 1000,  # no spaces either: cut anywhere
    ],
)
def test_a_long_text_without_full_stops_is_spoken_in_bounded_pieces(text):
    pieces = split_sentences(text)
    assert len(pieces) >= len(text) // 300
    assert max(map(len, pieces)) <= 300
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")  # nothing lost, in order
    if " " in text:
        assert all(not piece.startswith(("ord", "d ")) for piece in pieces)  # never inside a word


def test_progress_moves_through_a_long_text_without_full_stops(engine, profile):
    text = ", ".join(["the words go on and on without a stop"] * 30)  # 1,170 characters
    fractions = []
    [result] = engine.synthesize([SynthesisRequest(text=text, language="en", profile=profile)],
                                 on_progress=lambda _, fraction: fractions.append(fraction))  # fmt: skip
    assert len(fractions) >= 4
    assert 0 < fractions[0] < 0.5
    assert result.duration > 20


def test_reference_fixture_is_real_speech():
    samples, rate = sf.read(REFERENCE, dtype="float32")
    assert speech_seconds(samples, rate) > 2


def test_the_speaker_embedding_is_resemblyzers_own():
    """Scoring builds its mel filter bank once; the embedding must stay the library's, bit for bit."""
    from resemblyzer import preprocess_wav

    samples, rate = sf.read(REFERENCE, dtype="float32")
    ours = speaker_embedding.embed(samples, rate)
    wav = preprocess_wav(soxr.resample(samples, rate, speaker_embedding.EMBEDDING_RATE).astype(np.float32))
    theirs = speaker_embedding._get_encoder().embed_utterance(wav)
    assert ours.shape == (256,)
    assert np.allclose(ours, theirs, atol=1e-6)


def test_scoring_a_result_costs_less_and_says_the_same():
    """Results are scored on side-by-side partials over at most 6.4 s: the embedding stays
    within a hair of the full one, on a short clip and on a long one."""
    for path in (REFERENCE, LONG_REFERENCE):
        samples, rate = sf.read(path, dtype="float32")
        full = speaker_embedding.embed(samples, rate)
        cheap = speaker_embedding.embed(samples, rate, for_scoring=True)
        assert speaker_embedding.cosine(full, cheap) > 0.97, path
    long_samples, rate = sf.read(LONG_REFERENCE, dtype="float32")
    assert len(long_samples) / rate > 6.4  # so the cap was exercised
    assert speaker_embedding.similarity(long_samples, rate, full) > 0.97
    assert speaker_embedding.similarity(long_samples[: rate // 10], rate, full) is None  # 0.1 s: too short


def _onsets(samples: np.ndarray, rate: int, *, gap_seconds: float = 0.06) -> list[float]:
    """Where sound starts after a silence: 5 ms frames louder than -30 dB below the peak,
    after at least ``gap_seconds`` of quieter ones (an onset detector of the test's own)."""
    hop = rate // 200
    frames = samples[: len(samples) // hop * hop].reshape(-1, hop)
    level = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-9)
    loud = level > level.max() - 30
    onsets, quiet = [], int(gap_seconds * 200)
    for index in np.flatnonzero(loud):
        if index == 0 or not loud[max(0, index - quiet) : index].any():
            onsets.append(index / 200)
    return onsets


@pytest.mark.parametrize("speed", [0.8, 1.0, 1.3])
def test_word_starts_fall_on_the_words_onsets_at_any_speed(engine, profile, speed):
    """Words said one by one (a pause after each comma) have clear onsets in the audio:
    each word's start is within 150 ms of one, the speaking rate changed or not. (Much
    faster, eSpeak drops the commas' pauses and the onsets run together.)"""
    text = "One, two, three, four. Seven, eight, nine, ten!"
    [result] = engine.synthesize([SynthesisRequest(text=text, language="en", profile=profile, params={"speed": speed})])
    spoken = [text[w.text_start : w.text_end] for w in result.words]
    assert spoken == ["One", "two", "three", "four", "Seven", "eight", "nine", "ten"]
    onsets = _onsets(result.audio, result.sample_rate)
    assert len(onsets) >= 7  # the pauses are really there
    for word in result.words:
        nearest = min(onsets, key=lambda onset: abs(onset - word.start))
        assert abs(nearest - word.start) <= 0.15, (text[word.text_start : word.text_end], word.start, onsets)
        assert word.start < word.end <= result.duration
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)


def test_words_keep_their_place_in_the_text_across_sentences_and_numbers(engine, profile):
    text = "  In 1990, the café opened.\n\nIt's still there!  "
    [result] = engine.synthesize([SynthesisRequest(text=text, language="en", profile=profile)])
    spoken = [text[w.text_start : w.text_end] for w in result.words]
    assert spoken == ["In", "1990", "the", "café", "opened", "It's", "still", "there"]
    assert result.words[-1].end <= result.duration
    second_sentence = result.words[5].start
    assert second_sentence > result.words[4].end  # the pause between sentences is nobody's word


def test_japanese_kanji_take_about_as_long_as_their_kana_spelling(engine, profile):
    """eSpeak has no kanji readings (alone it says "Chinese letter" for each: 4.8 s against
    2.5 s); OpenJTalk's readings bring the kanji sentence to its kana spelling's length."""
    kanji, kana = "こんにちは！これは私の声です。", "こんにちは！これはわたしのこえです。"
    [with_kanji, in_kana] = engine.synthesize(
        [SynthesisRequest(text=kanji, language="ja", profile=profile),
         SynthesisRequest(text=kana, language="ja", profile=profile)]
    )  # fmt: skip
    assert with_kanji.duration == pytest.approx(in_kana.duration, rel=0.3)
    spans = [(w.text_start, w.text_end) for w in with_kanji.words]
    assert "".join(kanji[a:b] for a, b in spans) == "こんにちはこれは私の声です"  # each word once, in order
    starts = [w.start for w in with_kanji.words]
    assert starts == sorted(starts)
    assert with_kanji.words[-1].end <= with_kanji.duration


def test_japanese_is_given_to_espeak_as_its_pronunciation():
    from synthesis.engines.embedded import japanese

    text = "今日は私の声です。"
    reading = japanese.reading(text)
    assert reading.text == "キョーワ ワタシノ コエデス。"  # は said "wa", phrase by phrase, no kanji left
    start = reading.text.index("ワタシ")
    assert text[slice(*reading.original_span(start, start + 3))] == "私"
    assert reading.original_span(reading.text.index(" "), reading.text.index(" ") + 1) is None
