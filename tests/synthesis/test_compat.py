"""Drop-in endpoints: GPT-SoVITS /tts through the test client, and the official
`openai` client over real HTTP against a live server."""

from __future__ import annotations

import io

import pytest
import soundfile as sf

from tests.conftest import speech_seconds


@pytest.fixture
def narrator(tenant_a):
    tenant_a.ready_voice(name="Narrator")
    return "Narrator"


def playable(data: bytes, min_seconds: float = 0.5) -> sf._SoundFileInfo:
    samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    assert speech_seconds(samples, rate) >= min_seconds
    return sf.info(io.BytesIO(data))


def test_a_plain_get_tts_returns_playable_audio(tenant_a, narrator, worker):
    response = tenant_a.client.get(
        "/tts", {"text": "Hello from the compatible endpoint.", "text_lang": "en", "ref_audio_path": narrator}
    )
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "audio/wav"
    assert playable(response.content).format == "WAV"


def test_post_tts_with_gpt_sovits_parameters_and_unknown_ones_ignored(tenant_a, narrator, worker):
    body = {
        "text": "Another sentence, in another format.",
        "text_lang": "en",
        "ref_audio_path": narrator,
        "prompt_text": "ignored",
        "prompt_lang": "en",
        "media_type": "ogg",
        "streaming_mode": False,
        "speed_factor": 1.2,
        "top_k": 5,
        "temperature": 1.0,
        "batch_size": 1,
    }
    response = tenant_a.client.post("/tts", body, format="json")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "audio/ogg"
    assert playable(response.content).format == "OGG"
    # The embedded engine has no sampling: it says what it did not use.
    ignored = set(response["X-Ignored-Parameters"].split(", "))
    assert ignored == {"prompt_text", "prompt_lang", "batch_size", "top_k", "temperature"}


def test_tts_raw_gives_pcm(tenant_a, narrator, worker):
    response = tenant_a.client.get("/tts", {"text": "Raw samples.", "text_lang": "en", "ref_audio_path": narrator,
                                            "media_type": "raw"})  # fmt: skip
    assert response.status_code == 200
    assert int(response["X-Sample-Rate"]) > 0
    assert len(response.content) % 2 == 0


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"text_lang": "en", "ref_audio_path": "Narrator"}, "VALIDATION_ERROR"),  # no text
        ({"text": "Hi.", "text_lang": "en", "ref_audio_path": "Nobody"}, "NOT_FOUND"),
        ({"text": "Hi.", "text_lang": "xx", "ref_audio_path": "Narrator"}, "UNSUPPORTED_LANGUAGE"),
        ({"text": "Hi.", "text_lang": "en", "ref_audio_path": "Narrator", "media_type": "aac"}, "VALIDATION_ERROR"),
        ({"text": "Hi.", "text_lang": "en", "ref_audio_path": "Narrator", "speed_factor": "fast"}, "VALIDATION_ERROR"),
    ],
)
def test_invalid_tts_parameters_get_the_envelope(tenant_a, narrator, params, code):
    response = tenant_a.client.get("/tts", params)
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["code"] == code


def test_tts_needs_an_api_key(narrator):
    from rest_framework.test import APIClient

    response = APIClient().get("/tts", {"text": "Hi.", "text_lang": "en", "ref_audio_path": "Narrator"})
    assert response.status_code == 401


def test_the_official_openai_client_gets_speech(tenant_a, narrator, worker, live_server):
    from openai import OpenAI

    client = OpenAI(base_url=f"{live_server.url}/v1", api_key=tenant_a.key, max_retries=0)
    for response_format, container in (("wav", "WAV"), ("mp3", "MP3"), ("flac", "FLAC"), ("opus", "OGG")):
        speech = client.audio.speech.create(
            model="tts-1",
            voice=narrator,
            input="The official client reads this aloud.",
            response_format=response_format,
        )
        assert playable(speech.content).format == container


def test_the_openai_client_sees_errors_it_understands(tenant_a, narrator, live_server):
    import openai

    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=tenant_a.key, max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        client.audio.speech.create(model="tts-1", voice="nobody", input="Hi.")
    assert "voice" in str(caught.value).lower()
    bad = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="sk_live_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.audio.speech.create(model="tts-1", voice=narrator, input="Hi.")


@pytest.mark.parametrize(("asked", "applied"), [(4.0, 2.0), (0.25, 0.5), (1.5, 1.5)])
def test_openai_speed_takes_openais_range_and_says_what_the_engine_applied(tenant_a, narrator, worker, asked, applied):
    from synthesis.models import Task

    body = {"model": "tts-1", "input": "Quickly now.", "voice": narrator, "response_format": "wav", "speed": asked}
    response = tenant_a.client.post("/v1/audio/speech", body, format="json")
    assert response.status_code == 200, response.content
    assert float(response["X-Speed-Applied"]) == applied
    assert Task.objects.get(tenant=tenant_a.tenant).params["speed"] == applied
    playable(response.content, min_seconds=0.3)


@pytest.mark.parametrize("speed", [0.2, 4.5, "fast"])
def test_openai_speed_outside_openais_range_is_refused(tenant_a, narrator, speed):
    response = tenant_a.client.post("/v1/audio/speech", {"model": "tts-1", "input": "Hi.", "voice": narrator,
                                                         "speed": speed}, format="json")  # fmt: skip
    assert response.status_code == 400
    assert "speed" in response.json()["error"]["details"]["fields"]


def test_a_task_speed_outside_the_engines_range_is_refused_by_the_service_too(tenant_a, narrator):
    from sovits_site.errors import ApiError
    from synthesis.models import Speaker
    from synthesis.services.tasks import task_create

    speaker = Speaker.objects.get(tenant=tenant_a.tenant)
    with pytest.raises(ApiError) as caught:
        task_create(tenant=tenant_a.tenant, speaker_id=speaker.id, text="Hi.", params={"speed": 4.0})
    assert caught.value.error.code == "VALIDATION_ERROR"


def test_models_are_listed_in_openais_shape(tenant_a):
    from rest_framework.test import APIClient

    body = tenant_a.client.get("/v1/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["tts-1", "tts-1-hd", "gpt-4o-mini-tts"]
    for model in body["data"]:
        assert model["object"] == "model"
        assert isinstance(model["created"], int)
        assert model["owned_by"]
    assert tenant_a.client.get("/v1/models/tts-1-hd").json()["id"] == "tts-1-hd"
    missing = tenant_a.client.get("/v1/models/whisper-1")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NOT_FOUND")
    assert APIClient().get("/v1/models").status_code == 401


def test_a_key_that_may_not_synthesize_cannot_list_models(tenant_a):
    from rest_framework.test import APIClient

    from tenants.services import api_key_create

    reader = APIClient()
    reader.credentials(HTTP_X_API_KEY=api_key_create(tenant=tenant_a.tenant, name="reader", scopes=["read"]).secret)
    assert reader.get("/v1/models").status_code == 403


def test_the_openai_client_lists_and_retrieves_models(tenant_a, live_server):
    from openai import OpenAI

    client = OpenAI(base_url=f"{live_server.url}/v1", api_key=tenant_a.key, max_retries=0)
    assert {model.id for model in client.models.list()} == {"tts-1", "tts-1-hd", "gpt-4o-mini-tts"}
    assert client.models.retrieve("tts-1").owned_by == "voice-platform"
