"""Text in a script its language cannot speak is refused (LANGUAGE_MISMATCH), and Japanese
kanji are read as Japanese, through the API and the real worker."""

from __future__ import annotations

import pytest

from synthesis.models import Task
from tests.conftest import assert_word_timestamps, wait_for_task

KANJI = "こんにちは！これは私の声です。"
KANA = "こんにちは！これはわたしのこえです。"


@pytest.fixture
def voice(tenant_a):
    return tenant_a.ready_voice()


def test_chinese_text_sent_as_english_is_refused_naming_the_script(tenant_a, voice):
    response = tenant_a.create_task(voice, text="你好，世界。今天天气很好。", language="en")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "LANGUAGE_MISMATCH"
    assert (error["category"], error["retryable"]) == ("CLIENT", False)
    assert error["details"]["script"] == "Han"
    assert error["details"]["detected_language"] == "zh"
    assert error["details"]["sample"].startswith("你好")
    assert "'zh'" in error["message"]
    assert not Task.objects.exists()  # refused, not queued to be read as "Chinese letter"


@pytest.mark.parametrize(
    ("language", "text", "script", "detected"),
    [
        ("en", "Say こんにちは to everyone.", "Kana", "ja"),
        ("zh", "こんにちは、元気ですか。", "Kana", "ja"),
        ("ja", "안녕하세요, 반갑습니다.", "Hangul", "ko"),
        ("ko", "漢字를 읽습니다.", "Han", "zh"),
        ("en", "Привет, как дела?", "Cyrillic", None),
        ("auto", "Привет, как дела?", "Cyrillic", None),
    ],
)
def test_a_script_the_language_cannot_speak_is_refused(tenant_a, voice, language, text, script, detected):
    response = tenant_a.create_task(voice, text=text, language=language)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "LANGUAGE_MISMATCH"
    assert (error["details"]["script"], error["details"]["detected_language"]) == (script, detected)


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "The value of π is about 3.14, naïvely."),  # Greek letters are read by name
        ("zh", "我们用 Python 写代码。"),  # Latin words in Chinese text
        ("ja", "東京タワーは333メートルです。"),
        ("ko", "서울은 Korea의 수도입니다."),
        ("auto", "今日は。"),
    ],
)
def test_text_the_language_can_speak_is_accepted(tenant_a, voice, language, text):
    response = tenant_a.create_task(voice, text=text, language=language)
    assert response.status_code == 202, response.content


def test_a_batch_names_the_item_in_the_wrong_script(tenant_a, voice):
    response = tenant_a.client.post(
        "/api/v1/batches",
        {"requests": [{"text": "Hello.", "speaker_id": voice, "language": "en"},
                      {"text": "你好。", "speaker_id": voice, "language": "en"}]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400, response.content
    items = response.json()["error"]["details"]["requests"]
    assert list(items) == ["1"]
    assert items["1"]["code"] == "LANGUAGE_MISMATCH"


def test_japanese_kanji_are_read_like_their_kana_spelling(tenant_a, voice, worker):
    """eSpeak alone says "Chinese letter" for each kanji: 4.8 s where the kana take 2.5 s."""
    kanji_id = tenant_a.create_task(voice, text=KANJI, language="ja").json()["id"]
    kana_id = tenant_a.create_task(voice, text=KANA, language="ja").json()["id"]
    kanji, kana = wait_for_task(kanji_id), wait_for_task(kana_id)
    assert (kanji.status, kana.status) == ("DONE", "DONE"), (kanji.error, kana.error)
    assert kanji.duration_seconds == pytest.approx(kana.duration_seconds, rel=0.3)
    words = assert_word_timestamps(kanji)  # every character of the text the client sent is timed
    starts = {a: start for start, _, a, b in words}  # by position in the text
    assert starts[KANJI.index("これ")] < starts[KANJI.index("私")] < starts[KANJI.index("声")]
